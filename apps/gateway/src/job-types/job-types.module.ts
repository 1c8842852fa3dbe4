import { Module } from '@nestjs/common';
import { JobTypeCatalog } from './job-type.catalog';
import { JobTypesController } from './job-types.controller';

/** The job types on offer and which of them are enabled. */
@Module({
  controllers: [JobTypesController],
  providers: [JobTypeCatalog],
  exports: [JobTypeCatalog],
})
export class JobTypesModule {}
