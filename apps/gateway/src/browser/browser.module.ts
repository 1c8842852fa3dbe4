import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { JobsModule } from '../jobs/jobs.module';
import { FlowTokensController } from './flow-tokens.controller';
import { JobTokensController } from './job-tokens.controller';
import { SessionController } from './session.controller';

/**
 * Browser access: job and flow tokens, the console's session (CORS for the routes they open is set
 * up with the HTTP server, cors.ts).
 */
@Module({
  imports: [AuthModule, JobsModule],
  controllers: [JobTokensController, FlowTokensController, SessionController],
})
export class BrowserModule {}
