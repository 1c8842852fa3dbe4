import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PermanentError } from '@switchyard/handler-sdk';
import { FileSystemInputFiles } from './input-files';

describe('FileSystemInputFiles', () => {
  let dir: string;
  const mine = randomUUID();
  const theirs = randomUUID();
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'uploads-'));
    await writeFile(join(dir, mine), 'x');
    await writeFile(join(dir, theirs), 'x');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const owners = new Map<string, string>([
    [mine, 'acme'],
    [theirs, 'globex'],
  ]);
  const files = () =>
    new FileSystemInputFiles(dir, (id, tenant) => Promise.resolve(owners.get(id) === tenant));

  it('finds an upload of the tenant at <dir>/<fileId>', async () => {
    expect(await files().pathFor(mine, 'acme')).toBe(join(dir, mine));
    expect(await files().pathFor(mine.toUpperCase(), 'acme')).toBe(join(dir, mine));
  });

  it.each([
    ['another tenant’s upload', theirs, 'file_not_found'],
    ['an unknown id', randomUUID(), 'file_not_found'],
    ['a path instead of an id', '../../etc/passwd', 'invalid_payload'],
  ])('refuses %s', async (_what, id, code) => {
    const error = await files()
      .pathFor(id, 'acme')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentError);
    expect((error as PermanentError).code).toBe(code);
  });

  it('without an owner check, any existing upload is found', async () => {
    expect(await new FileSystemInputFiles(dir).pathFor(theirs, 'acme')).toBe(join(dir, theirs));
  });
});
