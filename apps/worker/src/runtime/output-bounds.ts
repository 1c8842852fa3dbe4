import { PermanentError, type ArtifactWriter, type HandlerOutput } from '@switchyard/handler-sdk';

/** Longest `step` a progress event carries (SPEC §3: a pipeline step name such as `generating`). */
export const PROGRESS_STEP_MAX = 64;
/** Longest progress `message`. */
export const PROGRESS_MESSAGE_MAX = 1024;

// U+0000 cannot be stored in a PostgreSQL text column; lone surrogates are not valid UTF-8 either.
// eslint-disable-next-line no-control-regex -- U+0000 is exactly what this must find
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export interface CleanText {
  text: string | null;
  /** What was changed, for the warning; empty when the text was already fine. */
  changes: string[];
}

/** Makes one handler-supplied text safe for an event: storable characters, bounded length. */
export function cleanText(value: unknown, max: number): CleanText {
  if (value === undefined || value === null) return { text: null, changes: [] };
  const changes: string[] = [];
  let text = typeof value === 'string' ? value : String(JSON.stringify(value));
  if (typeof value !== 'string') changes.push('not a string');
  const replaced = text.replace(UNSTORABLE, '\uFFFD');
  if (replaced !== text) changes.push('unstorable characters replaced');
  text = replaced;
  if (text.length > max) {
    // Never cut a surrogate pair in half.
    let end = max;
    const code = text.charCodeAt(end - 1);
    if (code >= 0xd800 && code <= 0xdbff) end -= 1;
    text = text.slice(0, end);
    changes.push(`truncated to ${max} characters`);
  }
  return { text, changes };
}

/**
 * Keeps the inline result within `maxBytes` of JSON: a larger one is written as the job's
 * artifact (`result.json`) and the job references it through `resultUrl` instead. A handler that
 * already wrote an artifact has nowhere to put a second one, so its oversize result fails the job.
 */
export async function boundInlineResult(
  output: HandlerOutput,
  maxBytes: number,
  artifacts: ArtifactWriter,
): Promise<HandlerOutput & { spilled: boolean }> {
  const json = JSON.stringify(output.result ?? null);
  const bytes = Buffer.byteLength(json);
  if (bytes <= maxBytes) return { ...output, spilled: false };
  if (output.artifact) {
    throw new PermanentError(
      `the inline result is ${bytes} bytes (RESULT_INLINE_MAX_BYTES is ${maxBytes}) and the job already has an artifact`,
      'result_too_large',
    );
  }
  const artifact = await artifacts.put('result.json', 'application/json', Buffer.from(json));
  return { result: null, artifact, spilled: true };
}
