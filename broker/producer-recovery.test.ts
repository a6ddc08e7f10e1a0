// The broker rebuilds idempotent producers' state from the committed batches
// when it opens: a real storage node (segment store on /dev/shm, UCX
// registrations) and a real metadata log; batches are staged, written into
// the granted place (what a producer's put does) and committed.
import * as fs from 'fs';
import * as path from 'path';
import { Transport } from '../addon';
import { buildRecordBatch, setBaseOffset } from '../format';
import { SegmentStore, StorageNode } from '../storage-node';
import { Broker } from './broker';
import { EmbeddedStorage } from './storage-backend';

const FRAME_HEADER_BYTES = 8;
const LOG_HEADER_BYTES = 8;

describe('idempotent producer state after a broker restart', () => {
  let dir: string;
  let transport: Transport;
  let broker: Broker | undefined;

  const open = async (): Promise<Broker> => {
    const store = SegmentStore.open({ path: path.join(dir, 'region'), regionSizeBytes: 16 << 20, segmentSizeBytes: 1 << 20, durability: 'flush' });
    broker = await Broker.open(path.join(dir, 'meta'), new EmbeddedStorage(new StorageNode(store)), { leaseTimeoutMs: 5000, durability: 'flush' });
    return broker;
  };
  const close = async (): Promise<void> => {
    await broker?.close();
    broker?.storage.close();
    broker = undefined;
  };

  /** Stage → write into the granted place → commit, as a shared-mode producer does. */
  const append = async (b: Broker, topic: string, partition: number, batch: Buffer, recordCount: number): Promise<bigint> => {
    const runtime = b.partitionByName(topic, partition);
    const grant = await b.stage(runtime, { lengthBytes: batch.length, recordCount, producerKey: 'test' });
    setBaseOffset(batch, 0, grant.baseOffset);
    batch.copy((b.storage as EmbeddedStorage).node.store.written(grant.segmentId, grant.position, batch.length));
    await b.complete(runtime, [{ stageId: grant.stageId, maxTimestamp: 0n }]);
    return grant.baseOffset;
  };
  const idempotent = (producerId: bigint, producerEpoch: number, baseSequence: number, count: number) =>
    buildRecordBatch({ records: Array.from({ length: count }, (_, i) => ({ key: null, value: `${producerId}/${producerEpoch}/${baseSequence + i}` })), producerId, producerEpoch, baseSequence });

  beforeEach(() => {
    dir = fs.mkdtempSync('/dev/shm/rdmq-producer-recovery-');
    transport = new Transport();
  });

  afterEach(async () => {
    await close();
    transport.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('each producer gets back its epoch and last five batches with their offsets, across a segment roll', async () => {
    let b = await open();
    await b.createTopic('t', 2);
    const { producerId } = await b.metadata.allocateProducerId();
    const offsets: bigint[] = [];
    // ~40 KiB batches in 1 MiB segments: the 30 batches span two.
    for (let i = 0; i < 30; i++) {
      const records = Array.from({ length: 4 }, (_, r) => ({ key: null, value: Buffer.alloc(10_000, i + r) }));
      offsets.push(await append(b, 't', 1, await buildRecordBatch({ records, producerId, producerEpoch: 0, baseSequence: i * 4 }), 4));
      await append(b, 't', 1, await buildRecordBatch({ records: [{ key: null, value: 'plain' }] }), 1);
    }
    expect(b.partitionByName('t', 1).state.segments().length).toBeGreaterThanOrEqual(2);
    // Written past the gateway's appender: only the log knows these batches.
    expect(b.partitionByName('t', 1).producers.window(producerId)).toBeUndefined();
    await close();

    b = await open();
    const after = b.partitionByName('t', 1).producers.window(producerId);
    expect(after?.epoch).toBe(0);
    expect(after?.batches.map((x) => [x.firstSequence, x.lastSequence, x.baseOffset, x.lastOffset])).toEqual(
      [25, 26, 27, 28, 29].map((i) => [i * 4, i * 4 + 3, offsets[i], offsets[i] + 3n]),
    );
    expect(b.partitionByName('t', 0).producers.size).toBe(0);
  });

  it('an id and epoch seen in the data are never handed out again, even when the metadata log lost its tail', async () => {
    let b = await open();
    await b.createTopic('t', 1);
    // The segment is recorded before the ids, so the cut below leaves it (and its data) in place.
    await append(b, 't', 0, await buildRecordBatch({ records: [{ key: null, value: 'plain' }] }), 1);
    const first = await b.metadata.allocateProducerId();
    const second = await b.metadata.allocateProducerId();
    await b.metadata.bumpProducerEpoch(second.producerId);
    await b.metadata.bumpProducerEpoch(second.producerId);
    await append(b, 't', 0, await idempotent(second.producerId, 2, 0, 3), 3);
    await close();
    cutLogBefore(path.join(dir, 'meta', 'metadata.log'), 'ProducerIdAllocated');

    b = await open();
    expect(b.metadata.state.producers.get(first.producerId)).toBeUndefined(); // it wrote nothing: gone with the log's tail
    expect(b.metadata.state.producers.get(second.producerId)).toEqual({ producerId: second.producerId, epoch: 2 });
    const next = await b.metadata.allocateProducerId();
    expect(next.producerId).toBeGreaterThan(second.producerId);
    // The rebuilt window answers a retry of the committed batch and continues its sequence.
    expect(b.partitionByName('t', 0).producers.window(second.producerId)?.batches).toEqual([{ firstSequence: 0, lastSequence: 2, baseOffset: 1n, lastOffset: 3n }]);
  });

  it('a rescan of the newest segments learns a batch committed behind the state\'s back, once', async () => {
    const b = await open();
    await b.createTopic('t', 1);
    const { producerId } = await b.metadata.allocateProducerId();
    const runtime = b.partitionByName('t', 0);
    runtime.producers.record(producerId, 0, { firstSequence: 0, lastSequence: 0, baseOffset: 0n, lastOffset: 0n });
    await append(b, 't', 0, await idempotent(producerId, 0, 0, 1), 1);
    // What a write whose reply was lost leaves: committed, not recorded.
    await append(b, 't', 0, await idempotent(producerId, 0, 1, 2), 2);
    await b.rescanProducers(runtime, 2);
    await b.rescanProducers(runtime);
    expect(runtime.producers.window(producerId)?.batches).toEqual([
      { firstSequence: 0, lastSequence: 0, baseOffset: 0n, lastOffset: 0n },
      { firstSequence: 1, lastSequence: 2, baseOffset: 1n, lastOffset: 2n },
    ]);
  });
});

/** Cuts the metadata log at the first record whose JSON names `recordType`, as a crash that lost its tail would. */
function cutLogBefore(file: string, recordType: string): void {
  const bytes = fs.readFileSync(file);
  let position = LOG_HEADER_BYTES;
  while (position < bytes.length) {
    const bodyLength = bytes.readUInt32BE(position);
    const body = bytes.subarray(position + FRAME_HEADER_BYTES, position + FRAME_HEADER_BYTES + bodyLength);
    if (body.toString('utf8').includes(`"${recordType}"`)) {
      fs.truncateSync(file, position);
      return;
    }
    position += FRAME_HEADER_BYTES + bodyLength;
  }
  throw new Error(`no ${recordType} record in ${file}`);
}
