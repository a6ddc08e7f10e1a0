// In `rdmq start` the storage node and the broker run in the gateway's
// process: Produce puts its bytes and Fetch reads them by a direct call into
// the node (the same grant check, one copy) instead of a request on the
// node's socket, and the gateway's control messages (stage, commit) reach the
// broker without UCX. kcat and kafkajs read every record kcat wrote once, in
// order, across segments and batch sizes; the node counts the puts and reads
// it served that way, the broker the session that came in-process.
import { execFile } from 'child_process';
import { Kafka, logLevel } from 'kafkajs';
import { ClusterProcess, startCluster } from '../bench/cluster';

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
