import { join, resolve } from 'node:path';
import { Type } from '@sinclair/typebox';
import { HandlerRegistryError, type AnyJobHandler } from '@switchyard/handler-sdk';
import { syntheticHandler } from '@switchyard/handlers';
import { BUILT_IN_SOURCE, buildRegistry, loadHandlerModules, parseModuleList } from './handler-modules';
import { toJobTypeRecord } from './job-type-records';

// The e2e fixtures are plain-JS modules of the kind WORKER_HANDLER_MODULES names.
const ROOT = resolve(__dirname, '..', '..', '..', '..');
const FIXTURES = 'e2e/fixtures/handlers';
const builtIn = { handler: syntheticHandler as unknown as AnyJobHandler, source: BUILT_IN_SOURCE };

describe('WORKER_HANDLER_MODULES', () => {
  it('splits the list and ignores blanks', () => {
    expect(parseModuleList(' a.js, ,b ,')).toEqual(['a.js', 'b']);
    expect(parseModuleList('')).toEqual([]);
  });

  it('loads `handlers` and default exports by path relative to the working directory', () => {
    const loaded = loadHandlerModules(
      [`${FIXTURES}/echo.handler.js`, `./${FIXTURES}/unknown-queue.handler.js`],
      ROOT,
    );
    expect(loaded.map((l) => [l.handler.type, l.source])).toEqual([
      ['test.echo', `${FIXTURES}/echo.handler.js`],
      ['test.lost', `./${FIXTURES}/unknown-queue.handler.js`],
    ]);
    expect(loadHandlerModules([join(ROOT, FIXTURES, 'duplicate-type.handler.js')], '/')[0].handler.type).toBe(
      'synthetic',
    );
  });

  it('names the module it cannot load or that exports no handler', () => {
    expect(() => loadHandlerModules([`${FIXTURES}/nothing-here.js`], ROOT)).toThrow(
      /cannot load "e2e\/fixtures\/handlers\/nothing-here.js"/,
    );
    expect(() => loadHandlerModules(['./package.json'], ROOT)).toThrow('"./package.json" exports no handler');
  });

  it('refuses duplicate types and unknown queues, naming where each came from', () => {
    const modules = loadHandlerModules(
      [`${FIXTURES}/duplicate-type.handler.js`, `${FIXTURES}/unknown-queue.handler.js`],
      ROOT,
    );
    let message = '';
    try {
      buildRegistry([builtIn, ...modules]);
    } catch (error) {
      expect(error).toBeInstanceOf(HandlerRegistryError);
      message = (error as Error).message;
    }
    expect(message).toContain(
      `duplicate job type "synthetic" (defined by built-in and by ${FIXTURES}/duplicate-type.handler.js)`,
    );
    expect(message).toContain(
      `job type "test.lost" from ${FIXTURES}/unknown-queue.handler.js names unknown queue "nowhere"`,
    );
  });

  it('fills in missing defaults so the runner can read them', () => {
    const bare = {
      type: 'bare',
      queue: 'default',
      payloadSchema: {},
      handle: () => Promise.resolve({ result: 1 }),
    };
    const registry = buildRegistry([builtIn, { handler: bare as unknown as AnyJobHandler, source: 'm.js' }]);
    expect(registry.get('bare')?.defaults).toEqual({});
  });
});

describe('job_types records', () => {
  it('keep static defaults and list the computed ones; the schema is plain JSON', () => {
    const record = toJobTypeRecord(syntheticHandler, BUILT_IN_SOURCE);
    expect(record).toMatchObject({
      type: 'synthetic',
      queue: 'default',
      defaults: {},
      computedDefaults: ['cacheable'],
    });
    const definition = {
      type: 't',
      queue: 'default',
      payloadSchema: Type.Object({ n: Type.Integer({ maximum: 3 }) }),
      defaults: { timeoutMs: 5, priority: () => 9, cacheable: true },
    };
    const json = toJobTypeRecord(definition, 'm.js');
    expect(json.defaults).toEqual({ timeoutMs: 5, cacheable: true });
    expect(json.computedDefaults).toEqual(['priority']);
    expect(json.payloadSchema).toEqual({
      type: 'object',
      properties: { n: { type: 'integer', maximum: 3 } },
      required: ['n'],
    });
  });
});
