import { buildRecordBatch } from './batch-builder';
import { MAX_TIMESTAMP_OFFSET } from './batch-layout';
import { writeBatchCrc } from './batch-crc';
import { headerMaxTimestampPlausible, maxRecordTimestamp, rewriteMaxTimestamp } from './batch-timestamps';
import { Compression } from './compression';
import { readBatchHeader, validateBatch } from './record-batch';
import { decodeRecordBatch } from './batch-builder';

/** A batch as sarama writes it: real times in the records, MaxTimestamp left at -1. */
async function saramaStyle(compression: Compression, timestamps: number[]): Promise<Buffer> {
  const batch = await buildRecordBatch({ compression, records: timestamps.map((timestamp, i) => ({ key: null, value: Buffer.from(`v${i}`), timestamp })) });
  batch.writeBigInt64BE(-1n, MAX_TIMESTAMP_OFFSET);
  writeBatchCrc(batch, 0, readBatchHeader(batch, 0).batchLength);
  return batch;
}

describe('a batch timestamps read from its records', () => {
  it.each(['none', 'gzip', 'snappy', 'lz4', 'zstd'] as Compression[])('%s: the largest record timestamp, not the header claim, and the rewrite keeps the batch valid', async (compression) => {
    const batch = await saramaStyle(compression, [5_000, 9_000, 7_000]);
    const header = readBatchHeader(batch, 0);
    expect(header.maxTimestamp).toBe(-1n);
    expect(headerMaxTimestampPlausible(header)).toBe(false);
    expect(await maxRecordTimestamp(batch, 0, header)).toBe(9_000n);
    rewriteMaxTimestamp(batch, 0, header, 9_000n, false);
    const fixed = validateBatch(batch, 0); // CRC recomputed
    expect(fixed.maxTimestamp).toBe(9_000n);
    expect(headerMaxTimestampPlausible(fixed)).toBe(true);
    expect((await decodeRecordBatch(batch)).records.map((r) => r.timestamp)).toEqual([5_000n, 9_000n, 7_000n]);
  });

  it('takes the largest of small, negative and long deltas (past 49 bits a delta is read as a BigInt)', async () => {
    const batch = await saramaStyle('none', [1_000, 1_000 + 2 ** 52, 995, 999 + 2 ** 52]);
    expect(await maxRecordTimestamp(batch, 0, readBatchHeader(batch, 0))).toBe(1_000n + 2n ** 52n);
    const earlier = await saramaStyle('none', [1_000, 995, 1_003, 990]);
    expect(await maxRecordTimestamp(earlier, 0, readBatchHeader(earlier, 0))).toBe(1_003n);
  });

  it('a log-append rewrite makes every record carry the append time', async () => {
    const batch = await buildRecordBatch({ records: [{ key: null, value: Buffer.from('a'), timestamp: 1 }, { key: null, value: Buffer.from('b'), timestamp: 2 }] });
    rewriteMaxTimestamp(batch, 0, readBatchHeader(batch, 0), 123_456n, true);
    const decoded = await decodeRecordBatch(batch);
    expect(decoded.header.timestampType).toBe('log-append');
    expect(decoded.records.map((r) => r.timestamp)).toEqual([123_456n, 123_456n]);
  });
});
