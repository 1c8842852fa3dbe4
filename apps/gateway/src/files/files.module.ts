import { Module } from '@nestjs/common';
import { FilesController } from './files.controller';
import { FilesService } from './files.service';

/** Uploaded input files. */
@Module({
  controllers: [FilesController],
  providers: [FilesService],
})
export class FilesModule {}
