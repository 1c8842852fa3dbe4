import { Module } from '@nestjs/common';
import { TenantBudgets } from './tenant-budgets';
import { UsageController } from './usage.controller';
import { UsageService } from './usage.service';

/** The usage ledger (`GET /usage`) and tenant budgets (their route and their admission check). */
@Module({
  controllers: [UsageController],
  providers: [UsageService, TenantBudgets],
  exports: [TenantBudgets],
})
export class UsageModule {}
