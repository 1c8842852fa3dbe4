import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';

jest.setTimeout(120_000);

const ROOT = join(__dirname, '../../..');
const FIXTURE = join(__dirname, 'typed-publish.typecheck.ts');

/** Type-checks the fixture, its `@ts-expect-error` markers removed when `strip`; the fixture's diagnostics. */
function diagnostics(strip: boolean): { line: number; code: number; message: string }[] {
  const config = ts.readConfigFile(join(ROOT, 'tsconfig.json'), (p) => ts.sys.readFile(p));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
  const source = readFileSync(FIXTURE, 'utf8');
  const text = strip ? source.replace(/\/\/ @ts-expect-error.*$/gm, '//') : source;
  const host = ts.createCompilerHost(parsed.options);
  const readFile = host.readFile.bind(host);
  host.readFile = (file) => (file === FIXTURE ? text : readFile(file));
  const program = ts.createProgram([FIXTURE], { ...parsed.options, noEmit: true }, host);
  return ts.getPreEmitDiagnostics(program, program.getSourceFile(FIXTURE)).map((d) => ({
    line: d.file!.getLineAndCharacterOfPosition(d.start!).line + 1,
    code: d.code,
    message: ts.flattenDiagnosticMessageText(d.messageText, '\n').split('\n')[0],
  }));
}

const lineOf = (needle: string): number =>
  readFileSync(FIXTURE, 'utf8')
    .split('\n')
    .findIndex((l) => l.includes(needle)) + 2;

describe('typed publish', () => {
  it('accepts the right payloads and the marked wrong ones only as expected errors', () => {
    expect(diagnostics(false)).toEqual([]);
  });

  it('rejects a wrong payload for an added message and for a catalogue message', () => {
    expect(diagnostics(true)).toEqual([
      {
        line: lineOf('no `count`'),
        code: 2345,
        message:
          "Argument of type '{ widgetId: string; }' is not assignable to parameter of type '{ widgetId: string; count: number; }'.",
      },
      {
        line: lineOf('a dispatch is not a cancel command'),
        code: 2345,
        message: expect.stringMatching(
          /^Argument of type '\{ jobId: string; tenant: string; \}' is not assignable to parameter of type '\{ .*queue: string;.*\}'\.$/,
        ) as string,
      },
    ]);
  });
});
