import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { JobsModule } from '../jobs/jobs.module';
import { JobTokensController } from './job-tokens.controller';

/** Browser access: job tokens (CORS for the routes they open is set up with the HTTP server, cors.ts). */
@Module({
  imports: [AuthModule, JobsModule],
  controllers: [JobTokensController],
})
export class BrowserModule {}
