// An exclusive producer whose put fails, against `rdmq start` in its own
// process. The fault is injected at the one place a client cannot make fail on
// purpose: this connection's put (as a storage node gone away mid-put would);
// the broker, the storage node and the commits are all real.
import { AddonError } from '../addon';
import { startCluster, ClusterProcess } from '../bench/cluster';
import { Connection } from './connection';
import { Consumer } from './consumer';
import { Producer } from './producer';
import { readAll } from './testing/read-all';

let cluster: ClusterProcess;
beforeAll(async () => {
  cluster = await startCluster({ regionSize: '64M', segmentSize: '1M' });
});
afterAll(async () => {
  await cluster?.stop();
});

async function failNthPut(connection: Connection, n: number): Promise<void> {
  // The storage node's endpoint (in `rdmq start` the broker's own).
  const endpoint = (await connection.storageEndpoint(connection.cluster.storageFastpathAddress)) as unknown as { put: (...args: unknown[]) => Promise<void> };
  const real = endpoint.put.bind(endpoint);
  let calls = 0;
  endpoint.put = (...args: unknown[]) => (++calls === n ? Promise.reject(new AddonError('ERR_PEER_UNREACHABLE', 'injected put failure')) : real(...args));
}

it('a failed put fails its send and the sends past it, never hangs, and the producer goes on from the committed end; nothing is acknowledged twice', async () => {
  const connection = await Connection.open({ control: cluster.control });
  try {
    await connection.call('createTopic', { name: 'holes', partitions: 1, configs: {} });
    const producer = new Producer(connection, { mode: 'exclusive', stagingDepth: 8 });
    await failNthPut(connection, 10);
    const first = await Promise.race([
      Promise.allSettled(Array.from({ length: 30 }, (_, i) => producer.send({ topic: 'holes', messages: [{ value: `a-${i}`, partition: 0 }] }))),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('a send hung after a failed put')), 20_000)),
    ]);
    const failed = first.filter((r) => r.status === 'rejected');
    const reasons = failed.map((r) => String((r as PromiseRejectedResult).reason.message));
    // The failed put may carry the batches of several sends (adjacent batches are gathered into one
    // put): those sends fail with its error, and every send past them because it was not committed.
    const inFailedPut = reasons.filter((m) => /injected put failure/.test(m)).length;
    expect(inFailedPut).toBeGreaterThanOrEqual(1);
    expect(reasons.slice(0, inFailedPut).every((m) => /injected put failure/.test(m))).toBe(true);
    for (const m of reasons.slice(inFailedPut)) expect(m).toMatch(/was not committed: the put at position \d+ of segment \d+ before it failed/);
    const acked = new Map<string, bigint>();
    first.forEach((r, i) => {
      if (r.status === 'fulfilled') acked.set(`a-${i}`, BigInt(r.value[0].baseOffset));
    });
    // The producer is usable: it takes its place from the broker again and goes on.
    for (let i = 0; i < 10; i++) {
      const [meta] = await producer.send({ topic: 'holes', messages: [{ value: `b-${i}`, partition: 0 }] });
      acked.set(`b-${i}`, BigInt(meta.baseOffset));
    }
    await producer.disconnect();

    const read = await readAll(cluster.control, 'holes', acked.size);
    // Every acknowledged record once, at the offset it was acknowledged with; offsets without gaps; nothing else.
    expect(read).toHaveLength(acked.size);
    expect(new Map(read.map((r) => [r.value, r.offset]))).toEqual(acked);
    expect(read.map((r) => r.offset)).toEqual(read.map((_, i) => BigInt(i)));
  } finally {
    await connection.close();
  }
}, 60_000);

it('a put that finishes after the connection was re-established fails its send (retriably), commits nothing and freezes nothing; the producer goes on', async () => {
  const connection = await Connection.open({ control: cluster.control });
  try {
    await connection.call('createTopic', { name: 'dropped', partitions: 1, configs: {} });
    const producer = new Producer(connection, { mode: 'exclusive' });
    const [first] = await producer.send({ topic: 'dropped', messages: [{ value: 'first', partition: 0 }] });
    // The next put is held until the broker session has been re-established under it.
    const endpoint = (await connection.storageEndpoint(connection.cluster.storageFastpathAddress)) as unknown as { put: (...args: unknown[]) => Promise<void> };
    const real = endpoint.put.bind(endpoint);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let held = false;
    endpoint.put = async (...args: unknown[]) => {
      endpoint.put = real;
      held = true;
      await released;
      return real(...args);
    };
    const late = producer.send({ topic: 'dropped', messages: [{ value: 'late', partition: 0 }] });
    while (!held) await new Promise((r) => setImmediate(r));
    // The connection's own event, as it emits it once a new broker session is up: a real reconnect
    // cannot be timed to land while exactly this put is under way.
    connection.emit('reconnected');
    release();
    await expect(late).rejects.toMatchObject({ retriable: true, message: expect.stringMatching(/re-established/) });
    // The event loop still turns (a dropped cursor's commit gate does not spin) and the producer goes on.
    const [next] = await producer.send({ topic: 'dropped', messages: [{ value: 'next', partition: 0 }] });
    await producer.disconnect();
    expect(BigInt(next.baseOffset)).toBe(BigInt(first.baseOffset) + 1n);
    const read = await readAll(cluster.control, 'dropped', 2);
    expect(read.map((r) => [r.value, r.offset])).toEqual([
      ['first', BigInt(first.baseOffset)],
      ['next', BigInt(next.baseOffset)],
    ]);
  } finally {
    await connection.close();
  }
}, 60_000);
