// What durability `flush` adds over `none`, which no SIGKILL test can show: a
// killed process never takes the page cache (or /dev/shm) with it, so data
// survives a SIGKILL at any durability. What differs is whether the bytes are
// persisted (pmem2 persist: cache flush on real pmem, msync otherwise) before
// a commit returns, and so before the broker acknowledges the records. This
// test watches the mapped region's persist calls during a storage commit.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { buildRecordBatch } from '../format';
import { Durability, SegmentStore } from '../storage-node';

const MiB = 1024 * 1024;

interface Persisted {
  kind: 'data' | 'header';
  regionOffset: number;
  lengthBytes: number;
}

async function commitOneBatch(durability: Durability): Promise<{ persisted: Persisted[]; dataRegionOffset: number; batchBytes: number; persistedAfterReturn: number }> {
  const dir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'rdmq-durability-'));
  const store = SegmentStore.open({ path: path.join(dir, 'region'), regionSizeBytes: 16 * MiB, segmentSizeBytes: MiB, durability, logger: { warn: () => undefined } });
  try {
    const segment = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n });
    const { regionOffset, lengthBytes } = store.dataRange(segment.segmentId);
    const batch = await buildRecordBatch({ records: [{ key: null, value: Buffer.from('acknowledged only once persisted') }, { key: null, value: Buffer.from('and this too') }], baseOffset: 0n });
    const position = store.get(segment.segmentId).commitPosition;
    // What a producer's one-sided put does: write straight into the segment.
    batch.copy(store.region.bytes(regionOffset + position, batch.length));
    const persisted: Persisted[] = [];
    const region = store.region;
    const persist = region.persist.bind(region);
    region.persist = (offset: number, length: number): void => {
      const inData = offset >= regionOffset && offset < regionOffset + lengthBytes;
      persisted.push({ kind: inData ? 'data' : 'header', regionOffset: offset, lengthBytes: length });
      persist(offset, length);
    };
    store.commit(segment.segmentId, { commitPosition: position + batch.length, endOffset: 2n, maxTimestamp: 0n });
    // commit() is synchronous: everything it persisted is recorded by now, and nothing comes later.
    const persistedAtReturn = persisted.length;
    await new Promise((resolve) => setImmediate(resolve));
    return { persisted: persisted.slice(0, persistedAtReturn), dataRegionOffset: regionOffset + position, batchBytes: batch.length, persistedAfterReturn: persisted.length - persistedAtReturn };
  } finally {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('durability: what a commit persists before it returns', () => {
  it.each<Durability>(['flush', 'sync'])('with durability %s, the committed bytes and then the header that claims them are persisted before the commit returns', async (durability) => {
    const { persisted, dataRegionOffset, batchBytes, persistedAfterReturn } = await commitOneBatch(durability);
    const data = persisted.findIndex((p) => p.kind === 'data' && p.regionOffset <= dataRegionOffset && p.regionOffset + p.lengthBytes >= dataRegionOffset + batchBytes);
    const header = persisted.findIndex((p) => p.kind === 'header');
    expect(data).toBeGreaterThanOrEqual(0);
    // Data first: a header never claims bytes that are not durable.
    expect(header).toBeGreaterThan(data);
    expect(persistedAfterReturn).toBe(0);
  });

  it('with durability none, a commit persists nothing: acknowledged records survive a SIGKILL (the mapping is shared), not a power loss', async () => {
    const { persisted } = await commitOneBatch('none');
    expect(persisted).toEqual([]);
  });
});
