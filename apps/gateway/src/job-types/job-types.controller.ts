import { Controller, Get, Inject } from '@nestjs/common';
import type { JobTypeView } from '@switchyard/contracts';
import {
  publishedJobType,
  type AnyJobTypeDefinition,
  type HandlerRegistry,
  type JobTypeDefinition,
} from '@switchyard/handler-sdk';
import { ApiJson, ApiRoute } from '../docs/api-docs';
import { HANDLER_REGISTRY } from '../gateway.tokens';

export function describeJobType(definition: AnyJobTypeDefinition, defaultPriority = 5): JobTypeView {
  const d = definition.defaults as JobTypeDefinition<Record<string, unknown>>['defaults'];
  return {
    ...publishedJobType(definition),
    defaults: {
      timeoutMs: d.timeoutMs ?? null,
      maxAttempts: d.maxAttempts ?? null,
      priority: typeof d.priority === 'function' ? 'computed' : (d.priority ?? defaultPriority),
      cacheable: typeof d.cacheable === 'function' ? 'computed' : (d.cacheable ?? false),
      retryTimeouts: d.retryTimeouts ?? false,
    },
  };
}

@Controller('api/v1/job-types')
export class JobTypesController {
  /** Views of the types known so far; types only ever get added, so the count says when to rebuild. */
  private views: JobTypeView[] = [];

  constructor(@Inject(HANDLER_REGISTRY) private readonly registry: HandlerRegistry<AnyJobTypeDefinition>) {}

  @Get()
  @ApiRoute(
    'job-types',
    'List the registered job types',
    'Each type’s queue, payload JSON Schema and defaults; `computed` when the type derives the value ' +
      'from the payload (null timeoutMs/maxAttempts: the global defaults apply).',
  )
  @ApiJson(200, 'the job types', 'JobTypeList')
  list() {
    // Read per request: the catalogue adds WORKER_HANDLER_MODULES types after start (and later,
    // as workers register them), so views built once at construction would never list them.
    const definitions = this.registry.list();
    if (definitions.length !== this.views.length) this.views = definitions.map((d) => describeJobType(d));
    return { items: this.views };
  }
}
