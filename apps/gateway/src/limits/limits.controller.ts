import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Put } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import {
  ApiError,
  CONCURRENCY_KEY_MAX,
  ConcurrencyLimitRequestSchema,
  defaultBurst,
  RATE_KEY_MAX,
  RateLimitRequestSchema,
  type ConcurrencyLimitView,
  type LimitList,
  type RateLimitView,
} from '@switchyard/contracts';
import { LimitsRepository, type RateLimitState } from '@switchyard/persistence';
import { Caller, RequireScope } from '../auth/caller';
import { ApiErrors, ApiJson, ApiJsonBody, ApiNoContent, ApiRoute } from '../docs/api-docs';
import { LOGGER, type Logger } from '../gateway.tokens';
import { bodyParser } from '../http/body';

const parseConcurrencyLimit = bodyParser(ConcurrencyLimitRequestSchema);
const parseRateLimit = bodyParser(RateLimitRequestSchema);

const ApiRateKeyParam = () =>
  ApiParam({
    name: 'key',
    description: 'the rate key (a job type’s `rateKey`, e.g. `provider:<name>` for provider.generate)',
    schema: { type: 'string', minLength: 1, maxLength: RATE_KEY_MAX },
  });

function checkRateKey(key: string): string {
  if (key.length < 1 || key.length > RATE_KEY_MAX) {
    throw new ApiError('validation_failed', 'invalid rate key', [
      { field: 'key', message: `1 to ${RATE_KEY_MAX} characters` },
    ]);
  }
  return key;
}

const rateView = (s: RateLimitState): RateLimitView => ({
  ...s,
  heldUntil: s.heldUntil ? new Date(s.heldUntil).toISOString() : null,
});

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

/** Flow control (SPEC §11): per-key concurrency limits and rate budgets, read by every gateway's dispatcher. */
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
      '(released to a worker, running, or retrying) and the queued jobs held back for the key; and ' +
      'every rate key that has a budget, a provider’s hold or jobs waiting: the budget, the tokens ' +
      'left, the hold and the queued jobs held back.',
  )
  @ApiJson(200, 'every key', 'LimitList')
  async list(): Promise<LimitList> {
    const [concurrency, rate] = await Promise.all([this.limits.listConcurrency(), this.limits.listRate()]);
    return { concurrency, rate: rate.map(rateView) };
  }

  @Get('rate/:key')
  @ApiRoute(
    'limits',
    'One rate key',
    'Its budget (null when none is set), the tokens it may release now, a provider’s hold and its waiting jobs.',
  )
  @ApiRateKeyParam()
  @ApiJson(200, 'the key', 'RateLimit')
  @ApiErrors(400)
  async getRate(@Param('key') key: string): Promise<RateLimitView> {
    return rateView(await this.limits.rate(checkRateKey(key)));
  }

  @Put('rate/:key')
  @RequireScope('admin')
  @ApiRoute(
    'limits',
    'Set a rate budget',
    'Jobs of the rate key are released at most `perMinute` a minute across every gateway, from a token ' +
      'bucket of `burst` (default: one second’s worth, at least 1); the others stay `queued` with ' +
      '`waitingFor: "rate"`. In any span of T seconds at most burst + perMinute × T / 60 are released. ' +
      'A provider’s 429 also holds the key until its reset, whether or not it has a budget.',
  )
  @ApiRateKeyParam()
  @ApiJsonBody('RateLimitRequest')
  @ApiJson(200, 'the key with its new budget', 'RateLimit')
  @ApiErrors(400)
  async putRate(
    @Caller() caller: Caller,
    @Param('key') key: string,
    @Body() body: unknown,
  ): Promise<RateLimitView> {
    const { perMinute, burst = defaultBurst(perMinute) } = parseRateLimit(body);
    const view = await this.limits.setRate(checkRateKey(key), perMinute, burst);
    this.logger.info(
      { key, perMinute, burst, keyId: caller.keyId },
      `rate budget of ${key} set to ${perMinute}/min (burst ${burst})`,
    );
    return rateView(view);
  }

  @Delete('rate/:key')
  @HttpCode(204)
  @RequireScope('admin')
  @ApiRoute(
    'limits',
    'Remove a rate budget',
    'The key’s jobs are released freely again (a provider’s hold still holds them until it ends).',
  )
  @ApiRateKeyParam()
  @ApiNoContent('removed')
  @ApiErrors(400, 404)
  async removeRate(@Caller() caller: Caller, @Param('key') key: string): Promise<void> {
    if (!(await this.limits.deleteRate(checkRateKey(key)))) {
      throw new ApiError('not_found', `rate key "${key}" has no budget`);
    }
    this.logger.info({ key, keyId: caller.keyId }, `rate budget of ${key} removed`);
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
