// Idempotent producers across crashes: kafkajs and kcat (librdkafka) write
// unique values into a 3-partition topic while the process that checks their
// sequences is SIGKILLed mid-stream and restarted on the same data — `rdmq
// start`, and the broker with the roles run apart (storage, broker, a gateway
// of its own in front). Afterwards everything is read back from the
// beginning: every acknowledged value is there exactly once, nothing is
// there twice, and no producer saw OUT_OF_ORDER_SEQUENCE_NUMBER or a fatal
// error. The producers' state is rebuilt from the batch headers in the log.
import { ChildProcess, execFile, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Kafka, logLevel } from 'kafkajs';
import { freeLoopbackPort, startCluster } from '../bench/cluster';
import { RolesApart } from '../cli/testing/apart';
import { buildRecordBatch } from '../format';
import { errorCode } from '../gateway/protocol';
import { RawKafkaClient } from '../gateway/testing/raw-client';
import { RemoteGatewayProcess, startRemoteGatewayProcess } from '../gateway/testing/remote-gateway';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

const KCAT = '/usr/bin/kcat';
const TOPIC = 'unique';
const KILLS = 3;
/** Producer processes still running, killed after each test whatever happened. */
const running = new Set<ChildProcess>();

/** A running rdmq whose sequence-checking process can be SIGKILLed and restarted on the same data. */
interface Target {
  /** Kafka bootstrap address the producer uses. */
  bootstrap: string;
  /** SIGKILL, then start again on the same data and ports; resolves once ready. */
  crash(): Promise<void>;
  close(): Promise<void>;
}

function freshDir(name: string): string {
  return fs.mkdtempSync(path.join('/dev/shm', `rdmq-${name}-`));
}

/** `rdmq start`, restarted with the same Kafka port so clients find it again. */
async function allInOne(): Promise<Target> {
  const dataDir = freshDir('idem-start');
  const kafkaPort = await freeLoopbackPort();
  const start = () => startCluster({ dataDir, regionSize: '256M', segmentSize: '4M', durability: 'flush', extraArgs: ['--kafka', `127.0.0.1:${kafkaPort}`] });
  let cluster = await start();
  return {
    bootstrap: `127.0.0.1:${kafkaPort}`,
    crash: async () => {
      await cluster.kill();
      cluster = await start();
    },
    close: async () => {
      await cluster.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** `rdmq storage`, `rdmq broker --storage` and `rdmq gateway --control` in front; the broker is what crashes. */
async function rolesApart(): Promise<Target> {
  const roles = await RolesApart.start({ regionSize: '256M', segmentSize: '4M', leaseTimeoutMs: 10_000 });
  const gateway: RemoteGatewayProcess = await startRemoteGatewayProcess(roles.control);
  return {
    bootstrap: gateway.kafka,
    crash: async () => {
      const rejoins = (): number => gateway.stderr().split('joined again').length;
      const before = rejoins();
      await roles.broker.signal('SIGKILL');
      await roles.startBroker();
      // The gateway rejoins on its own backoff; until then it closes Kafka connections, and a reader with -e gives up.
      for (const deadline = Date.now() + 20_000; rejoins() === before; ) {
        if (Date.now() > deadline) throw new Error(`the gateway did not join the restarted broker:\n${gateway.stderr()}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    close: async () => {
      await gateway.stop();
      await roles.stop();
    },
  };
}

async function createTopic(bootstrap: string): Promise<void> {
  const admin = new Kafka({ clientId: 'idem-admin', brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 3 }], waitForLeaders: true });
  await admin.disconnect();
}

/** Every value in the topic, from the beginning of each partition, with where it is. */
function readBack(bootstrap: string): Promise<{ value: string; at: string }[]> {
  return new Promise((resolve, reject) => {
    execFile(KCAT, ['-b', bootstrap, '-C', '-t', TOPIC, '-o', 'beginning', '-e', '-q', '-f', '%p:%o %s\n'], { timeout: 30_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`kcat read-back: ${err.message}\n${stderr}`));
      resolve(stdout.split('\n').filter(Boolean).map((line) => ({ at: line.slice(0, line.indexOf(' ')), value: line.slice(line.indexOf(' ') + 1) })));
    });
  });
}

/** Kills the target whenever `progress()` passes each mark, while the producer keeps going. */
async function crashAt(target: Target, marks: number[], progress: () => number, done: () => boolean): Promise<number> {
  let crashes = 0;
  for (const mark of marks) {
    while (progress() < mark && !done()) await new Promise((resolve) => setTimeout(resolve, 5));
    if (done()) break;
    if (process.env.IDEM_TRACE) console.log(`${new Date().toISOString()} crash at ${progress()}`);
    await target.crash();
    if (process.env.IDEM_TRACE) console.log(`${new Date().toISOString()} restarted`);
    crashes++;
  }
  return crashes;
}

interface ProducerRun {
  acked: string[];
  errors: string[];
  crashes: number;
  /**
   * Acknowledged values that may stand for an earlier one (kafkajs): where the broker said the value is,
   * and the values of that partition the client had sent before it without an answer.
   */
  mayStandFor?: Map<string, { at: string; earlier: string[] }>;
}

/** kafkajs, idempotent, acks -1: sends of three values (one per partition), one at a time. */
async function produceWithKafkajs(target: Target, total: number): Promise<ProducerRun> {
  const errors: string[] = [];
  const kafka = new Kafka({
    clientId: 'idem-kafkajs',
    brokers: [target.bootstrap],
    retry: { retries: 60, initialRetryTime: 100, maxRetryTime: 500 },
    logCreator: () => ({ log }) => {
      if (/OUT_OF_ORDER|out of order sequence|INVALID_PRODUCER|UNKNOWN_PRODUCER|DUPLICATE_SEQUENCE/i.test(JSON.stringify(log))) errors.push(JSON.stringify(log));
    },
    logLevel: logLevel.ERROR,
  });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, retry: { retries: 60, initialRetryTime: 100, maxRetryTime: 500 } });
  await producer.connect();
  const acked: string[] = [];
  const unanswered: string[] = [];
  // kafkajs 2.2.4 takes back a partition's sequence numbers when a request fails without an answer
  // (sendMessages.js: updateSequence(-n) on a broken connection), even though the broker may have
  // stored that batch, and then resolves the send without that partition. Its next value there goes
  // out under the same sequence, and the broker answers it, as Kafka does, as a duplicate of the
  // stored batch, with that batch's offset. Such an acknowledgement is checked against those offsets.
  const unansweredSince = new Map<number, string[]>();
  const mayStandFor = new Map<string, { at: string; earlier: string[] }>();
  let finished = false;
  const crashing = crashAt(target, [total * 0.2, total * 0.45, total * 0.7], () => acked.length, () => finished);
  let restartFailed = false;
  let crashesDone = false;
  crashing.then(() => (crashesDone = true)).catch(() => (restartFailed = true));
  try {
    // Past `total` until every kill has happened: a fast run must not finish before its last kill.
    for (let i = 0; (i < total || !crashesDone) && !restartFailed; i += 3) {
      const values = [0, 1, 2].map((p) => `kafkajs-${i + p}`);
      try {
        const answered = await producer.send({ topic: TOPIC, acks: -1, messages: values.map((value, partition) => ({ partition, value })) });
        // Acknowledged means answered with no error for its partition. kafkajs 2.2.4 can resolve a send
        // without some partitions' answers: a retry skips a broker that already answered, even when
        // fresh metadata moved the failed partitions to it (here: a gateway that lost the restarted
        // broker leaves the membership until it rejoins). Those values were never acknowledged.
        const ok = new Map(answered.filter((r) => r.errorCode === 0).map((r) => [r.partition, r.baseOffset]));
        values.forEach((value, partition) => {
          const offset = ok.get(partition);
          const earlier = unansweredSince.get(partition) ?? [];
          if (offset === undefined) {
            unanswered.push(value);
            unansweredSince.set(partition, [...earlier, value]);
            return;
          }
          acked.push(value);
          if (earlier.length > 0) mayStandFor.set(value, { at: `${partition}:${offset}`, earlier });
          unansweredSince.delete(partition);
        });
      } catch (err) {
        errors.push(`send of ${values.join(',')}: ${(err as Error).message}`);
      }
    }
  } finally {
    finished = true;
  }
  try {
    if (unanswered.length > 0) process.stdout.write(`kafkajs resolved sends of ${unanswered.length} value(s) without an answer for their partition: ${unanswered.join(', ')}\n`);
    return { acked, errors, crashes: await crashing, mayStandFor };
  } finally {
    await producer.disconnect();
  }
}

/** kcat (librdkafka), enable.idempotence: lines fed to its stdin over time; it exits once all are delivered. */
async function produceWithKcat(target: Target, total: number): Promise<ProducerRun> {
  const child: ChildProcess = spawn(KCAT, [
    // -E: keep going when every broker is down for a moment (the crash); only failed deliveries count.
    '-b', target.bootstrap, '-P', '-E', '-t', TOPIC,
    '-X', 'enable.idempotence=true', '-X', 'acks=all', '-X', 'message.timeout.ms=50000',
    '-X', 'reconnect.backoff.ms=50', '-X', 'reconnect.backoff.max.ms=300', '-X', 'retry.backoff.ms=50',
    '-X', 'linger.ms=2', '-X', 'batch.num.messages=20',
  ], { stdio: ['pipe', 'ignore', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let written = 0;
  let finished = false;
  const crashing = crashAt(target, [total * 0.2, total * 0.45, total * 0.7], () => written, () => finished);
  let restartFailed = false;
  crashing.catch(() => (restartFailed = true));
  const lines: string[] = [];
  while (written < total && !restartFailed) {
    const chunk = Array.from({ length: 20 }, (_, i) => `kcat-${written + i}`);
    lines.push(...chunk);
    child.stdin!.write(chunk.join('\n') + '\n');
    written += chunk.length;
    // A steady trickle, so batches are in flight whenever a crash comes.
    await new Promise((resolve) => setTimeout(resolve, 8));
  }
  const crashes = await crashing;
  finished = true;
  child.stdin!.end();
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([exited, new Promise<string>((resolve) => (timer = setTimeout(() => resolve('timeout'), 40_000)))]);
  clearTimeout(timer);
  if (code === 'timeout') {
    child.kill('SIGKILL');
    await exited;
  }
  const errors = stderr.split('\n').filter((line) => /Delivery failed|fatal|OUT_OF_ORDER|sequence/i.test(line));
  if (code !== 0) errors.push(`kcat exited with ${code}: ${stderr.slice(-2000)}`);
  // kcat reports every failed delivery on stderr; with none and exit code 0, every line was acknowledged.
  return { acked: errors.length === 0 ? lines : [], errors, crashes };
}

async function check(target: Target, run: ProducerRun, prefix: string): Promise<void> {
  expect(run.errors).toEqual([]);
  expect(run.crashes).toBe(KILLS);
  const stored = (await readBack(target.bootstrap)).filter((r) => r.value.startsWith(prefix));
  const places = new Map<string, string[]>();
  for (const r of stored) places.set(r.value, [...(places.get(r.value) ?? []), r.at]);
  const twice = [...places].filter(([, at]) => at.length > 1).map(([value, at]) => `${value} at ${at.join(' and ')}`);
  expect(twice).toEqual([]);
  // A value acknowledged as the duplicate of an unanswered one is missing; the earlier one must be
  // where the broker said, exactly where that acknowledgement pointed.
  const storedAt = new Map(stored.map((r) => [r.at, r.value]));
  const standsFor = (value: string): string | undefined => {
    const stand = run.mayStandFor?.get(value);
    const there = stand && storedAt.get(stand.at);
    return there !== undefined && stand!.earlier.includes(there) ? there : undefined;
  };
  const absent = run.acked.filter((value) => !places.has(value));
  const missing = absent.filter((value) => standsFor(value) === undefined);
  expect(missing).toEqual([]);
  const replaced = absent.map((value) => `${value} (acknowledged as ${standsFor(value)})`);
  if (replaced.length > 0) process.stdout.write(`kafkajs reused a sequence number after an unanswered request: ${replaced.join(', ')}\n`);
  expect(run.acked.length).toBeGreaterThan(0);
}

describe('an idempotent producer whose broker is killed mid-stream', () => {
  // Each takes 20–45 s on 2 busy cores, mostly starting processes (three roles, three restarts).
  jest.setTimeout(90_000);
  afterEach(() => {
    for (const child of running) child.kill('SIGKILL');
  });

  it.each([
    ['kafkajs', 'rdmq start', produceWithKafkajs, allInOne, 900],
    ['kcat', 'rdmq start', produceWithKcat, allInOne, 3000],
    ['kafkajs', 'the broker run apart', produceWithKafkajs, rolesApart, 360],
    ['kcat', 'the broker run apart', produceWithKcat, rolesApart, 1500],
  ] as const)('%s: SIGKILL of %s, restarted on its data, stores every acknowledged value exactly once', async (client, _where, produce, topology, total) => {
    const target = await topology();
    try {
      await createTopic(target.bootstrap);
      const run = await produce(target, total);
      await check(target, run, `${client}-`);
    } finally {
      await target.close();
    }
  });
});

describe('a retry after the broker was SIGKILLed, byte for byte', () => {
  jest.setTimeout(60_000);

  it('an acknowledged batch sent again is answered with its first offset, and the producer goes on where it was', async () => {
    const target = await allInOne();
    let client: RawKafkaClient | undefined;
    try {
      await createTopic(target.bootstrap);
      client = await RawKafkaClient.connect(target.bootstrap);
      const init = await client.request('InitProducerId', 4, { transactionalId: null, transactionTimeoutMs: 60000, producerId: -1n, producerEpoch: -1 });
      const producerId = init.producerId as bigint;
      const batch = (baseSequence: number, values: string[]) =>
        buildRecordBatch({ records: values.map((value) => ({ key: null, value })), producerId, producerEpoch: 0, baseSequence });
      const produce = async (c: RawKafkaClient, records: Buffer) => {
        const res = await c.request('Produce', 9, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: TOPIC, partitionData: [{ index: 1, records }] }] });
        return res.responses[0].partitionResponses[0] as { errorCode: number; baseOffset: bigint };
      };
      expect(await produce(client, await batch(0, ['a', 'b', 'c']))).toMatchObject({ errorCode: 0, baseOffset: 0n });
      expect(await produce(client, await batch(3, ['d', 'e']))).toMatchObject({ errorCode: 0, baseOffset: 3n });
      client.close();

      await target.crash();
      client = await RawKafkaClient.connect(target.bootstrap);
      // Both acknowledged batches again, as a producer whose acknowledgements were lost would send them.
      expect(await produce(client, await batch(3, ['d', 'e']))).toMatchObject({ errorCode: 0, baseOffset: 3n });
      expect(await produce(client, await batch(0, ['a', 'b', 'c']))).toMatchObject({ errorCode: 0, baseOffset: 0n });
      expect(await produce(client, await batch(5, ['f']))).toMatchObject({ errorCode: 0, baseOffset: 5n });
      expect((await produce(client, await batch(9, ['gap']))).errorCode).toBe(errorCode('OUT_OF_ORDER_SEQUENCE_NUMBER'));
      const next = await client.request('InitProducerId', 4, { transactionalId: null, transactionTimeoutMs: 60000, producerId: -1n, producerEpoch: -1 });
      expect(next.producerId).toBeGreaterThan(producerId);
      client.close();
      client = undefined;
      expect((await readBack(target.bootstrap)).map((r) => `${r.at} ${r.value}`)).toEqual(['1:0 a', '1:1 b', '1:2 c', '1:3 d', '1:4 e', '1:5 f']);
    } finally {
      client?.close();
      await target.close();
    }
  });
});
