import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Put } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import {
  ApiError,
  CONCURRENCY_KEY_MAX,
  ConcurrencyLimitRequestSchema,
  type ConcurrencyLimitView,
  type LimitList,
} from '@switchyard/contracts';
import { LimitsRepository } from '@switchyard/persistence';
import { Caller, RequireScope } from '../auth/caller';
import { ApiErrors, ApiJson, ApiJsonBody, ApiNoContent, ApiRoute } from '../docs/api-docs';
import { LOGGER, type Logger } from '../gateway.tokens';
import { bodyParser } from '../http/body';

const parseConcurrencyLimit = bodyParser(ConcurrencyLimitRequestSchema);

const ApiKeyParam = () =>
  ApiParam({
    name: 'key',
    description: 'the concurrency key (as jobs carry it in `concurrencyKey`)',
    schema: { type: 'string', minLength: 1, maxLength: CONCURRENCY_KEY_MAX },
  });

function checkKey(key: string): string {
  if (key.length < 1 || key.length > CONCURRENCY_KEY_MAX) {
    throw new ApiError('validation_failed', 'invalid concurrency key', [
      { field: 'key', message: `1 to ${CONCURRENCY_KEY_MAX} characters` },
    ]);
  }
  return key;
}

/** Flow control (SPEC §11): per-key concurrency limits, read by every gateway's dispatcher. */
@Controller('api/v1/limits')
export class LimitsController {
  constructor(
    private readonly limits: LimitsRepository,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  @Get()
  @ApiRoute(
    'limits',
    'Flow-control limits and their use',
    'Every concurrency key that has a limit or jobs in use or waiting: the limit, the jobs in use ' +
      '(released to a worker, running, or retrying) and the queued jobs held back for the key.',
  )
  @ApiJson(200, 'every key', 'LimitList')
  async list(): Promise<LimitList> {
    return { concurrency: await this.limits.listConcurrency() };
  }

  @Get('concurrency/:key')
  @ApiRoute('limits', 'One concurrency key', 'Its limit (null when none is set), jobs in use and waiting.')
  @ApiKeyParam()
  @ApiJson(200, 'the key', 'ConcurrencyLimit')
  @ApiErrors(400)
  get(@Param('key') key: string): Promise<ConcurrencyLimitView> {
    return this.limits.concurrency(checkKey(key));
  }

  @Put('concurrency/:key')
  @RequireScope('admin')
  @ApiRoute(
    'limits',
    'Set a concurrency limit',
    'At most `max` jobs of the key are released or running at once, across every worker and gateway; ' +
      'the others stay `queued` with `waitingFor: "concurrency"`. A raised limit releases at once; a ' +
      'lowered one lets the jobs in use finish.',
  )
  @ApiKeyParam()
  @ApiJsonBody('ConcurrencyLimitRequest')
  @ApiJson(200, 'the key with its new limit', 'ConcurrencyLimit')
  @ApiErrors(400)
  async put(
    @Caller() caller: Caller,
    @Param('key') key: string,
    @Body() body: unknown,
  ): Promise<ConcurrencyLimitView> {
    const { max } = parseConcurrencyLimit(body);
    const view = await this.limits.setConcurrency(checkKey(key), max);
    this.logger.info({ key, max, keyId: caller.keyId }, `concurrency limit of ${key} set to ${max}`);
    return view;
  }

  @Delete('concurrency/:key')
  @HttpCode(204)
  @RequireScope('admin')
  @ApiRoute('limits', 'Remove a concurrency limit', 'The key’s jobs are no longer held back.')
  @ApiKeyParam()
  @ApiNoContent('removed')
  @ApiErrors(400, 404)
  async remove(@Caller() caller: Caller, @Param('key') key: string): Promise<void> {
    if (!(await this.limits.deleteConcurrency(checkKey(key)))) {
      throw new ApiError('not_found', `concurrency key "${key}" has no limit`);
    }
    this.logger.info({ key, keyId: caller.keyId }, `concurrency limit of ${key} removed`);
  }
}
