import type { FastifyReply } from 'fastify';

/**
 * Takes the response over from Fastify (and the compression plugin) so a handler can write it
 * itself, and returns the headers set so far (CORS, correlation id, rate limit) for its writeHead.
 */
export function hijackReply(reply: FastifyReply): Record<string, string> {
  reply.hijack();
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    if (value !== undefined) headers[name] = String(value);
  }
  return headers;
}
