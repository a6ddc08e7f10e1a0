// In `rdmq start` the storage node and the broker run in the gateway's
// process: Produce puts its bytes and Fetch reads them by a direct call into
// the node (the same grant check, one copy) instead of a request on the
// node's socket, and the gateway's control messages (stage, commit) reach the
// broker without UCX. kcat and kafkajs read every record kcat wrote once, in
// order, across segments and batch sizes; the node counts the puts and reads
// it served that way, the broker the session that came in-process.
import { execFile } from 'child_process';
import * as net from 'net';
import { Kafka, logLevel } from 'kafkajs';
import { ClusterProcess, startCluster } from '../bench/cluster';
import { batchIntact, buildRecordBatch, decodeRecordBatch, splitBatches } from '../format';
import { apiKeys, decodeResponse, encodeRequest, FrameSplitter } from './protocol';
import { RawKafkaClient } from './testing/raw-client';

const KCAT = '/usr/bin/kcat';

function kcat(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(KCAT, args, { timeout: 30_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`kcat ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** The value of `name` on /metrics, with a label set that includes `label` (e.g. 'link="ucx"'). */
async function gauge(cluster: ClusterProcess, name: string, label = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${cluster.metricsPort}/metrics`)).text();
  const found = new RegExp(`^${name}\\{[^}]*${label}[^}]*\\} (\\d+)`, 'm').exec(text);
  if (!found) throw new Error(`${name}{${label}} is not on /metrics`);
  return Number(found[1]);
}

const inProcessServed = (cluster: ClusterProcess, what: 'reads' | 'puts'): Promise<number> => gauge(cluster, `rdmq_storage_in_process_${what}`);

/** A Fetch (v12) of partition 0 of `topic` from offset 0, answered at once, of up to 8 MiB. */
const fetchFromStart = (topic: string) => ({
  replicaId: -1,
  maxWaitMs: 0,
  minBytes: 1,
  maxBytes: 8 << 20,
  isolationLevel: 0,
  sessionId: 0,
  sessionEpoch: -1,
  topics: [{ topic, partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 8 << 20, logStartOffset: -1n }] }],
  forgottenTopicsData: [],
  rackId: '',
});

/** Produces `count` batches of one `bytes`-byte record each to a new one-partition topic, each batch filled with `fill + i`. */
async function fillTopic(client: RawKafkaClient, topic: string, fill: number, count: number, bytes = 900 * 1024): Promise<void> {
  const created = await client.request('CreateTopics', 7, { topics: [{ name: topic, numPartitions: 1, replicationFactor: -1, assignments: [], configs: [] }], timeoutMs: 5000, validateOnly: false });
  expect(created.topics[0].errorCode).toBe(0);
  for (let i = 0; i < count; i++) {
    const records = await buildRecordBatch({ records: [{ key: null, value: Buffer.alloc(bytes, fill + i) }] });
    const res = await client.request('Produce', 9, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: 0, records }] }] });
    expect(res.responses[0].partitionResponses[0].errorCode).toBe(0);
  }
}

/** Polls `done` until it holds; fails after `timeoutMs`, saying what did not happen. */
async function until(done: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The whole first response frame on `socket` (resumed to read it), of which `head` arrived already. */
function nextFrame(socket: net.Socket, head?: Buffer): Promise<Buffer> {
  const splitter = new FrameSplitter(64 << 20);
  if (head) expect(splitter.push(head)).toEqual([]);
  return new Promise<Buffer>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      for (const f of splitter.push(chunk)) resolve(f);
    });
    socket.once('error', reject);
    socket.resume();
  });
}

let cluster: ClusterProcess;
beforeAll(async () => {
  cluster = await startCluster({ regionSize: '128M', segmentSize: '4M' });
});
afterAll(async () => {
  await cluster?.stop();
});

it('kcat and kafkajs read every record kcat wrote once, in order, with Produce and Fetch calling the in-process storage node and broker', async () => {
  const topic = 'in-process-reads';
  // The gateway's session with the broker is the in-process one; nothing in this process uses UCX to reach it.
  expect(await gauge(cluster, 'rdmq_broker_fastpath_sessions', 'link="in-process"')).toBe(1);
  expect(await gauge(cluster, 'rdmq_broker_fastpath_sessions', 'link="ucx"')).toBe(0);
  // ~12 MiB over 4 MiB segments: batches of every size kcat makes, several segments, records of 10 B … 30 KiB.
  const values = Array.from({ length: 3000 }, (_, i) => `${i}:`.padEnd(10 + ((i * 7919) % 8000), String.fromCharCode(97 + (i % 26))));
  const putsBefore = await inProcessServed(cluster, 'puts');
  await kcat(['-b', cluster.kafka, '-P', '-t', topic, '-X', 'batch.size=262144', '-X', 'linger.ms=5'], values.join('\n') + '\n');
  // Its batches (folded into fewer writes when they wait on each other) went into the node by direct calls.
  expect((await inProcessServed(cluster, 'puts')) - putsBefore).toBeGreaterThan(0);
  const before = await inProcessServed(cluster, 'reads');
  const out = await kcat(['-b', cluster.kafka, '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%o %s\n', '-X', 'fetch.message.max.bytes=65536']);
  const lines = out.trimEnd().split('\n');
  expect(lines.map((l) => Number(l.slice(0, l.indexOf(' '))))).toEqual(values.map((_, i) => i));
  expect(lines.map((l) => l.slice(l.indexOf(' ') + 1))).toEqual(values);
  const afterKcat = await inProcessServed(cluster, 'reads');
  expect(afterKcat).toBeGreaterThan(before);

  const kafka = new Kafka({ clientId: 'in-process-reads', brokers: [cluster.kafka], logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: 'in-process-readers', maxBytesPerPartition: 100_000 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const read: { offset: string; value: string }[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`kafkajs read ${read.length} of ${values.length} records`)), 30_000);
      consumer
        .run({
          eachMessage: async ({ message }) => {
            read.push({ offset: message.offset, value: message.value!.toString() });
            if (read.length === values.length) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
    expect(read.map((r) => Number(r.offset))).toEqual(values.map((_, i) => i));
    expect(read.map((r) => r.value)).toEqual(values);
  } finally {
    await consumer.disconnect();
  }
  expect(await inProcessServed(cluster, 'reads')).toBeGreaterThan(afterKcat);
  expect(cluster.failures()).toEqual([]);
});

it('an answer still waiting for a slow reader keeps its read buffers: reads for others meanwhile, from the same pool, never land in the bytes it has yet to send', async () => {
  const client = await RawKafkaClient.connect(cluster.kafka);
  let slow: net.Socket | undefined;
  try {
    // Two topics of eight ~900 KiB batches each, every batch one fill byte of its own.
    await fillTopic(client, 'held', 0x10, 8);
    await fillTopic(client, 'others', 0x80, 8);
    // A reader that stops reading: most of its ~7 MiB answer waits in the gateway, as views of its read buffers.
    slow = net.connect(cluster.kafkaPort, '127.0.0.1');
    await new Promise((resolve) => slow!.once('connect', resolve));
    slow.pause();
    slow.write(encodeRequest({ apiKey: apiKeys.Fetch, apiVersion: 12, correlationId: 1, clientId: 'slow' }, fetchFromStart('held')));
    // Meanwhile others read the other topic again and again (their answers written at once, their buffers back in the pool).
    for (let round = 0; round < 6; round++) {
      const res = await client.request('Fetch', 12, fetchFromStart('others'));
      expect((res.responses[0].partitions[0].records as Buffer).length).toBeGreaterThan(900 * 1024);
    }
    // The slow reader reads on: every batch it gets is whole and holds its own fill.
    const frame = await nextFrame(slow);
    const body = decodeResponse(apiKeys.Fetch, 12, frame).body as { responses: { partitions: { records: Buffer }[] }[] };
    const records = body.responses[0].partitions[0].records;
    const batches = splitBatches(records, { batchBytesMax: 8 << 20 }).batches;
    expect(batches.length).toBeGreaterThanOrEqual(4);
    for (const [i, span] of batches.entries()) {
      const batch = records.subarray(span.offset, span.offset + span.length);
      expect(batchIntact(batch)).toBe(true);
      const decoded = await decodeRecordBatch(records, span.offset);
      expect(decoded.records[0].value!.equals(Buffer.alloc(900 * 1024, 0x10 + i))).toBe(true);
    }
  } finally {
    slow?.destroy();
    client.close();
  }
  expect(cluster.failures()).toEqual([]);
}, 60_000);

/**
 * A connection that sends an 8 MiB Fetch of `topic` from its start, takes the
 * answer's first bytes and stops reading: the rest waits in the gateway.
 */
async function stalledFetch(topic: string): Promise<{ socket: net.Socket; first: Buffer }> {
  const socket = net.connect(cluster.kafkaPort, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  const head = new Promise<Buffer>((resolve) =>
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      resolve(chunk);
    }),
  );
  socket.write(encodeRequest({ apiKey: apiKeys.Fetch, apiVersion: 12, correlationId: 1, clientId: 'slow' }, fetchFromStart(topic)));
  return { socket, first: await head };
}

it('a read-ahead from the in-process node waits until the answer before it is in the socket: a slow reader is not kept waiting behind the copy', async () => {
  const client = await RawKafkaClient.connect(cluster.kafka);
  let slow: net.Socket | undefined;
  try {
    // Sixteen ~900 KiB batches: an 8 MiB fetch from the start stops halfway, so the fetcher reads what follows ahead.
    await fillTopic(client, 'ahead', 0x20, 16);
    const before = await inProcessServed(cluster, 'reads');
    const stalled = await stalledFetch('ahead');
    slow = stalled.socket;
    // Turns of the gateway's loop go by (a round trip on another connection, then /metrics): no read ahead yet.
    await client.request('ApiVersions', 3, { clientSoftwareName: 'test', clientSoftwareVersion: '1' });
    const whileWaiting = await inProcessServed(cluster, 'reads');
    expect(whileWaiting).toBeGreaterThan(before);
    // Once the reader takes the whole answer, the read-ahead runs, with no further fetch asking.
    const frame = await nextFrame(slow, stalled.first);
    const records = (decodeResponse(apiKeys.Fetch, 12, frame).body as { responses: { partitions: { records: Buffer }[] }[] }).responses[0].partitions[0].records;
    expect(splitBatches(records, { batchBytesMax: 8 << 20 }).batches.length).toBeLessThan(16);
    await until(async () => (await inProcessServed(cluster, 'reads')) !== whileWaiting, `no read ahead (in-process reads stayed at ${whileWaiting}) after the answer was taken`, 10_000);
  } finally {
    slow?.destroy();
    client.close();
  }
  expect(cluster.failures()).toEqual([]);
}, 60_000);

it('a read-ahead nobody took before it expired is not read once its answer is written: a reader slower than that costs no copy for nothing', async () => {
  const client = await RawKafkaClient.connect(cluster.kafka);
  let slow: net.Socket | undefined;
  const readAheadBytes = (): Promise<number> => gauge(cluster, 'rdmq_gateway_fetch_read_ahead_bytes');
  try {
    await fillTopic(client, 'expired', 0x30, 16);
    const stalled = await stalledFetch('expired');
    slow = stalled.socket;
    // The answer waits in the gateway; the read-ahead behind it holds its budget, then expires (nobody took it).
    expect(await readAheadBytes()).toBeGreaterThan(0);
    await until(async () => (await readAheadBytes()) === 0, 'the read-ahead did not expire', 15_000);
    const before = await inProcessServed(cluster, 'reads');
    // The reader takes its answer at last: the read-ahead's turn comes, but it was dropped, so nothing is read.
    const frame = await nextFrame(slow, stalled.first);
    expect(decodeResponse(apiKeys.Fetch, 12, frame).body).toMatchObject({ errorCode: 0 });
    await client.request('ApiVersions', 3, { clientSoftwareName: 'test', clientSoftwareVersion: '1' });
    expect(await inProcessServed(cluster, 'reads')).toBe(before);
  } finally {
    slow?.destroy();
    client.close();
  }
  expect(cluster.failures()).toEqual([]);
}, 60_000);
