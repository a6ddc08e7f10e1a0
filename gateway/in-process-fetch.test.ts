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
    for (const [topic, fill] of [['held', 0x10], ['others', 0x80]] as const) {
      const created = await client.request('CreateTopics', 7, { topics: [{ name: topic, numPartitions: 1, replicationFactor: -1, assignments: [], configs: [] }], timeoutMs: 5000, validateOnly: false });
      expect(created.topics[0].errorCode).toBe(0);
      for (let i = 0; i < 8; i++) {
        const records = await buildRecordBatch({ records: [{ key: null, value: Buffer.alloc(900 * 1024, fill + i) }] });
        const res = await client.request('Produce', 9, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: 0, records }] }] });
        expect(res.responses[0].partitionResponses[0].errorCode).toBe(0);
      }
    }
    const fetch = (topic: string) => ({
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
    // A reader that stops reading: most of its ~7 MiB answer waits in the gateway, as views of its read buffers.
    slow = net.connect(cluster.kafkaPort, '127.0.0.1');
    await new Promise((resolve) => slow!.once('connect', resolve));
    slow.pause();
    slow.write(encodeRequest({ apiKey: apiKeys.Fetch, apiVersion: 12, correlationId: 1, clientId: 'slow' }, fetch('held')));
    // Meanwhile others read the other topic again and again (their answers written at once, their buffers back in the pool).
    for (let round = 0; round < 6; round++) {
      const res = await client.request('Fetch', 12, fetch('others'));
      expect((res.responses[0].partitions[0].records as Buffer).length).toBeGreaterThan(900 * 1024);
    }
    // The slow reader reads on: every batch it gets is whole and holds its own fill.
    const splitter = new FrameSplitter(64 << 20);
    const frame = await new Promise<Buffer>((resolve, reject) => {
      slow!.on('data', (chunk: Buffer) => {
        for (const f of splitter.push(chunk)) resolve(f);
      });
      slow!.once('error', reject);
      slow!.resume();
    });
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
