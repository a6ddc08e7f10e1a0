// The five codecs of the record batch attributes (bits 0..2), each framed the
// way Kafka clients frame it, with decompression bounded so a small batch
// cannot expand into gigabytes (a "zip bomb").
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { RecordBatchError } from './record-batch-error';
import { corruptCompressed, decompressedTooLarge } from './decompression-limit';
import { compressSnappyXerial, decompressSnappy } from './snappy-framing';
import { compressLz4Frame, decompressLz4Frame } from './lz4-framing';
import { compressZstd, decompressZstd } from './zstd-streaming';

export type Compression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';

/** Index = codec id in the attributes' low three bits. */
const CODEC_BY_ID: readonly Compression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

export const COMPRESSION_ATTRIBUTE_MASK = 0x07;

/** Default cap on one batch's decompressed records: generous against an 8 MiB batch. */
export const DECOMPRESSED_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;

export function compressionId(codec: Compression): number {
  const id = CODEC_BY_ID.indexOf(codec);
  if (id < 0) {
    throw new RecordBatchError(
      'UNSUPPORTED_COMPRESSION_TYPE',
      `compression "${String(codec)}" is unknown; allowed: ${CODEC_BY_ID.join(', ')}`,
    );
  }
  return id;
}

/** The codec named by a batch's attributes; ids 5..7 are not defined by Kafka. */
export function compressionFromAttributes(attributes: number): Compression {
  const id = attributes & COMPRESSION_ATTRIBUTE_MASK;
  const codec = CODEC_BY_ID[id];
  if (codec === undefined) {
    throw new RecordBatchError(
      'UNSUPPORTED_COMPRESSION_TYPE',
      `compression id ${id} in batch attributes is unknown; allowed ids are 0..${CODEC_BY_ID.length - 1}`,
    );
  }
  return codec;
}

const gzipAsync = promisify(zlib.gzip);
const gunzipAsync = promisify(zlib.gunzip);

export async function compress(codec: Compression, data: Buffer): Promise<Buffer> {
  switch (codec) {
    case 'none':
      return data;
    case 'gzip':
      return gzipAsync(data);
    case 'snappy':
      return compressSnappyXerial(data);
    case 'lz4':
      return compressLz4Frame(data);
    case 'zstd':
      return compressZstd(data);
  }
  return compressionId(codec) as never; // throws for a value outside the type
}

/**
 * Decompresses `data`, failing with MESSAGE_TOO_LARGE as soon as the output
 * would exceed `decompressedBytesMax` and with CORRUPT_MESSAGE when the bytes
 * are not valid for the codec.
 */
export async function decompress(
  codec: Compression,
  data: Buffer,
  decompressedBytesMax = DECOMPRESSED_BYTES_MAX_DEFAULT,
): Promise<Buffer> {
  let output: Buffer;
  try {
    output = await decompressUnchecked(codec, data, decompressedBytesMax);
  } catch (error) {
    throw asRecordBatchError(codec, error, decompressedBytesMax);
  }
  if (output.length > decompressedBytesMax) throw decompressedTooLarge(codec, output.length, decompressedBytesMax);
  return output;
}

async function decompressUnchecked(codec: Compression, data: Buffer, decompressedBytesMax: number): Promise<Buffer> {
  switch (codec) {
    case 'none':
      return data;
    case 'gzip':
      return gunzipAsync(data, { maxOutputLength: decompressedBytesMax });
    case 'snappy':
      return decompressSnappy(data, decompressedBytesMax);
    case 'lz4':
      return decompressLz4Frame(data, decompressedBytesMax);
    case 'zstd':
      return decompressZstd(data, decompressedBytesMax);
  }
  return compressionId(codec) as never;
}

function asRecordBatchError(codec: Compression, error: unknown, decompressedBytesMax: number): RecordBatchError {
  if (error instanceof RecordBatchError) return error;
  if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
    return decompressedTooLarge(codec, null, decompressedBytesMax);
  }
  const reason = error instanceof Error ? error.message : String(error);
  return corruptCompressed(codec, reason);
}
