import type { CliIo } from './settings';

type Paint = (text: string) => string;
export interface Style {
  enabled: boolean;
  red: Paint;
  green: Paint;
  yellow: Paint;
  cyan: Paint;
  dim: Paint;
  bold: Paint;
}

const sgr =
  (open: number, close: number): Paint =>
  (text) =>
    `\u001b[${open}m${text}\u001b[${close}m`;
const plain: Paint = (text) => text;

export function createStyle(enabled: boolean): Style {
  if (!enabled) {
    return { enabled, red: plain, green: plain, yellow: plain, cyan: plain, dim: plain, bold: plain };
  }
  return {
    enabled,
    red: sgr(31, 39),
    green: sgr(32, 39),
    yellow: sgr(33, 39),
    cyan: sgr(36, 39),
    dim: sgr(2, 22),
    bold: sgr(1, 22),
  };
}

/** Everything a command prints goes through here, so `--json` and colour are decided once. */
export class Output {
  constructor(
    readonly io: CliIo,
    readonly json: boolean,
    readonly style: Style,
  ) {}

  line(text = ''): void {
    this.io.stdout.write(`${text}\n`);
  }

  error(text: string): void {
    this.io.stderr.write(`${text}\n`);
  }

  /** The API's JSON, unchanged, for scripts. */
  data(value: unknown): void {
    this.io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /**
   * A list answer (`{items, nextCursor?}`): the JSON with --json, else `empty` or the table
   * `render` draws, then how to fetch the next page when there is one.
   */
  page<T>(
    body: { items: T[]; nextCursor?: string | null },
    empty: string,
    render: (items: T[]) => string,
  ): void {
    if (this.json) return this.data(body);
    if (body.items.length === 0) return this.line(empty);
    this.line(render(body.items));
    if (body.nextCursor !== null && body.nextCursor !== undefined) {
      this.line(this.style.dim(`more: repeat with --cursor ${body.nextCursor}`));
    }
  }
}
