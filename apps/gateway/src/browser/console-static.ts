import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Where the gateway serves the web console. */
export const CONSOLE_PATH = '/ui';
const IMMUTABLE = 'public, max-age=31536000, immutable';

/**
 * The web console (apps/console, built by `npm run build` into `dir`) at /ui: hashed assets with a
 * year-long immutable cache, index.html revalidated on every load (no-cache), and index.html for
 * every other /ui path so that client routes (/ui/jobs/…) can be shared and reloaded. A missing
 * asset is 404, never the page. Without a build there is no /ui.
 */
export async function registerConsole(
  app: NestFastifyApplication,
  fastify: FastifyInstance,
  dir: string,
): Promise<boolean> {
  const indexFile = join(dir, 'index.html');
  if (!existsSync(indexFile)) return false;
  const index = readFileSync(indexFile);
  // Loaded only when there is a console to serve (it pulls in ESM-only dependencies).
  const { default: fastifyStatic } = await import('@fastify/static');
  await app.register(fastifyStatic, {
    root: dir,
    prefix: `${CONSOLE_PATH}/`,
    // Files are listed once at start (the build does not change under a running gateway).
    wildcard: false,
    index: false,
    cacheControl: false,
    setHeaders: (reply, path) => {
      void reply.header('cache-control', path.includes('/assets/') ? IMMUTABLE : 'no-cache');
    },
  });
  const page = (_request: FastifyRequest, reply: FastifyReply) =>
    reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(index);
  fastify.get(CONSOLE_PATH, (_request, reply) => reply.redirect(`${CONSOLE_PATH}/`, 302));
  fastify.get(`${CONSOLE_PATH}/`, page);
  fastify.get(`${CONSOLE_PATH}/*`, (request, reply) => {
    if (request.url.startsWith(`${CONSOLE_PATH}/assets/`)) {
      return reply.code(404).type('text/plain').send('not found');
    }
    return page(request, reply);
  });
  return true;
}
