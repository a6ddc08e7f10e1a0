// Record batches for storage tests: a valid v2 header over an opaque,
// deterministic payload (storage never parses records), and a skip marker
// shaped as format/skip-marker.ts builds it.
import { crc32c } from '../../addon';

const LOG_OVERHEAD = 12;
const HEADER_BYTES = 61;
const CONTROL_ATTRIBUTE = 0x20;

export interface TestBatchSpec {
  baseOffset: bigint;
  recordCount: number;
  /** Whole batch size, header included; at least 61. */
  sizeBytes: number;
  maxTimestamp?: bigint;
}

/** The payload depends only on baseOffset and size, so a reader can rebuild and compare. */
export function buildTestBatch(spec: TestBatchSpec): Buffer {
  const batch = Buffer.alloc(spec.sizeBytes);
  writeHeader(batch, spec.baseOffset, 0, spec.recordCount - 1, spec.maxTimestamp ?? 1_700_000_000_000n, 1000n, spec.recordCount);
  let x = Number(spec.baseOffset % 0x7fffffffn) * 2654435761 + spec.sizeBytes;
  for (let i = HEADER_BYTES; i < batch.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    batch[i] = x >>> 24;
  }
  sealCrc(batch);
  return batch;
}

export function buildTestSkipMarker(lengthBytes: number, baseOffset: bigint, offsetCount: number): Buffer {
  const marker = Buffer.alloc(lengthBytes);
  writeHeader(marker, baseOffset, CONTROL_ATTRIBUTE, offsetCount - 1, -1n, -1n, 0);
  sealCrc(marker);
  return marker;
}

function writeHeader(
  batch: Buffer,
  baseOffset: bigint,
  attributes: number,
  lastOffsetDelta: number,
  maxTimestamp: bigint,
  producerId: bigint,
  recordCount: number,
): void {
  batch.writeBigInt64BE(baseOffset, 0);
  batch.writeInt32BE(batch.length - LOG_OVERHEAD, 8);
  batch.writeInt32BE(0, 12);
  batch.writeInt8(2, 16);
  batch.writeInt16BE(attributes, 21);
  batch.writeInt32BE(lastOffsetDelta, 23);
  batch.writeBigInt64BE(maxTimestamp, 27);
  batch.writeBigInt64BE(maxTimestamp, 35);
  batch.writeBigInt64BE(producerId, 43);
  batch.writeInt16BE(producerId < 0n ? -1 : 0, 51);
  batch.writeInt32BE(-1, 53);
  batch.writeInt32BE(recordCount, 57);
}

function sealCrc(batch: Buffer): void {
  batch.writeUInt32BE(crc32c(batch.subarray(21)), 17);
}
