import { Controller, Get, HttpCode, Param, Post, Req } from '@nestjs/common';
import { ApiConsumes, ApiExtension } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { Caller } from '../auth/caller';
import { ApiErrors, ApiJson, ApiRoute, REQUEST_BODY_EXTENSION } from '../docs/api-docs';
import { FilesService } from './files.service';

@Controller('api/v1/files')
export class FilesController {
  constructor(private readonly files: FilesService) {}

  @Post()
  @HttpCode(201)
  @ApiRoute(
    'files',
    'Upload an input file',
    'The raw body (any content type but JSON) or multipart/form-data with one file part, at most ' +
      'UPLOAD_MAX_BYTES (20 MiB). Jobs reference it as `fileId` in their payload.',
  )
  @ApiConsumes('application/octet-stream', 'multipart/form-data')
  @ApiExtension(REQUEST_BODY_EXTENSION, {
    required: true,
    content: {
      'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
      'multipart/form-data': {
        schema: {
          type: 'object',
          properties: { file: { type: 'string', format: 'binary' } },
          required: ['file'],
        },
      },
    },
  })
  @ApiJson(201, 'stored', 'File')
  @ApiErrors(400, 413, 415)
  upload(@Caller() caller: Caller, @Req() request: FastifyRequest) {
    return this.files.upload(caller, request);
  }

  @Get(':id')
  @ApiRoute('files', 'Describe an uploaded file', 'Size, SHA-256 and content type; the caller’s tenant only.')
  @ApiJson(200, 'the file', 'File')
  @ApiErrors(404)
  get(@Caller() caller: Caller, @Param('id') id: string) {
    return this.files.get(caller, id);
  }
}
