import { Module } from '@nestjs/common';
import { LimitsController } from './limits.controller';

/** Flow-control limits (`/api/v1/limits`); the dispatcher enforces them. */
@Module({ controllers: [LimitsController] })
export class LimitsModule {}
