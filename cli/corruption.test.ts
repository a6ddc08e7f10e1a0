// Corruption is loud, never silent: bytes flipped inside committed records of
// the region file (one sealed segment, one open) and inside the metadata log,
// with `rdmq start` stopped, then a restart on the same data. Nothing
// acknowledged is cut, no offset is handed out twice, readers get an error at
// the damaged range and read around it, and only an operator's command
// changes the range.
import { execFile, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Kafka, logLevel } from 'kafkajs';
import { ClusterOptions, ClusterProcess, startCluster } from '../bench/cluster';
import { Rdmq } from '../rdma-client';
import { SegmentStore } from '../storage-node';

const MAIN = path.join(__dirname, 'main.js');
const RECORD_BYTES = 1000;
const RECORDS_PER_SEND = 50;
const SENDS = 25; // 20 batches fill the first 1 MiB segment, 5 go to the second (open) one

function rdmq(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

function kafkaAt(port: number | undefined): Kafka {
  return new Kafka({ clientId: 'corruption-test', brokers: [`127.0.0.1:${port}`], logLevel: logLevel.NOTHING });
}

/**
 * Reads partition 0 with kcat (librdkafka, no group) from `fromOffset` until
 * it has printed `want` offsets or reported an error; the error line is kept.
 */
function readWithKcat(kafkaPort: number | undefined, topic: string, fromOffset: number, want: number): Promise<{ offsets: number[]; error?: string }> {
  return new Promise((resolve) => {
    const kcat = spawn('/usr/bin/kcat', ['-b', `127.0.0.1:${kafkaPort}`, '-C', '-t', topic, '-p', '0', '-o', String(fromOffset), '-f', '%o\n', '-q', '-u'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const offsets: number[] = [];
    let pending = '';
    let stderr = '';
    let done = false;
    const finish = (error?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      kcat.kill('SIGKILL');
      resolve(error === undefined ? { offsets } : { offsets, error });
    };
    const timer = setTimeout(() => finish(`timed out after ${offsets.length} records: ${stderr}`), 20_000);
    kcat.stdout.on('data', (chunk: Buffer) => {
      const lines = (pending + chunk.toString()).split('\n');
      pending = lines.pop()!;
      for (const line of lines) offsets.push(Number(line));
      if (offsets.length >= want) finish();
    });
    kcat.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const error = /ERROR: .*/.exec(stderr);
      // Whatever came before the error is on stdout already (one stream, in order).
      if (error) setTimeout(() => finish(error[0]), 200);
    });
  });
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

interface Flip {
  segmentId: number;
  sealed: boolean;
  /** Bytes of the damaged batch in its segment. */
  startPosition: number;
  endPosition: number;
}

/**
 * Flips 3 bytes inside the `batchIndex`-th batch of the `segmentIndex`-th
 * segment, straight in the region file (rdmq start is stopped).
 */
function flipInsideBatch(dataDir: string, options: { regionSizeBytes: number; segmentSizeBytes: number }, segmentIndex: number, batchIndex: number): Flip {
  const regionPath = path.join(dataDir, 'region');
  const store = SegmentStore.open({ path: regionPath, ...options, durability: 'flush', logger: { warn: () => undefined } });
  let target: { regionOffset: number } & Flip;
  try {
    const segment = store.describe()[segmentIndex];
    let position = segment.startPosition;
    for (let i = 0; i < batchIndex; i++) position += 12 + store.read(segment.segmentId, position, 61).readInt32BE(8);
    const sizeBytes = 12 + store.read(segment.segmentId, position, 61).readInt32BE(8);
    target = {
      segmentId: segment.segmentId,
      sealed: segment.sealed,
      startPosition: position,
      endPosition: position + sizeBytes,
      regionOffset: store.dataRange(segment.segmentId).regionOffset + position,
    };
  } finally {
    store.close();
  }
  const fd = fs.openSync(regionPath, 'r+');
  try {
    const at = target.regionOffset + 400; // inside a record's value
    const bytes = Buffer.alloc(3);
    fs.readSync(fd, bytes, 0, 3, at);
    for (let i = 0; i < 3; i++) bytes[i] ^= 0x5a;
    fs.writeSync(fd, bytes, 0, 3, at);
  } finally {
    fs.closeSync(fd);
  }
  const { regionOffset: _unused, ...flip } = target;
  return flip;
}

describe('corrupt committed data after a restart (one sealed segment, one open)', () => {
  const topic = 'fenced';
  const acked = SENDS * RECORDS_PER_SEND;
  let dataDir: string;
  let options: ClusterOptions;
  let cluster: ClusterProcess | undefined;
  let sealedFlip: Flip;
  let openFlip: Flip;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join('/dev/shm', 'rdmq-corrupt-'));
    options = { dataDir, durability: 'flush', regionSize: '64M', segmentSize: '1M' };
    const first = await startCluster(options);
    try {
      const kafka = kafkaAt(first.kafkaPort);
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
      await admin.disconnect();
      const producer = kafka.producer();
      await producer.connect();
      for (let s = 0; s < SENDS; s++) {
        const messages = range(s * RECORDS_PER_SEND, (s + 1) * RECORDS_PER_SEND).map((i) => ({ value: `${i}-`.padEnd(RECORD_BYTES, 'x') }));
        await producer.send({ topic, messages, acks: -1 });
      }
      await producer.disconnect();
    } finally {
      await first.stop({ keepData: true });
    }
    const geometry = { regionSizeBytes: 64 * 1024 * 1024, segmentSizeBytes: 1024 * 1024 };
    sealedFlip = flipInsideBatch(dataDir, geometry, 0, 3); // offsets 150..199
    openFlip = flipInsideBatch(dataDir, geometry, 1, 1); // offsets 1050..1099
    cluster = await startCluster(options);
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('is fenced, not cut: one log line per range naming segment, bytes and offsets, and the high watermark stays', async () => {
    expect(sealedFlip.sealed).toBe(true);
    expect(openFlip.sealed).toBe(false);
    const log = cluster!.stderr();
    expect(log).toContain(`segment ${sealedFlip.segmentId} bytes [${sealedFlip.startPosition}, ${sealedFlip.endPosition}) offsets [150, 200) fail their check`);
    expect(log).toContain(`segment ${openFlip.segmentId} bytes [${openFlip.startPosition}, ${openFlip.endPosition}) offsets [1050, 1100) fail their check`);
    expect(log.match(/CORRUPT committed data/g)).toHaveLength(2);
    const admin = kafkaAt(cluster!.kafkaPort).admin();
    await admin.connect();
    expect(await admin.fetchTopicOffsets(topic)).toEqual([expect.objectContaining({ partition: 0, high: String(acked) })]);
    await admin.disconnect();
  });

  it('is listed by rdmq status and counted in the metrics', async () => {
    const status = await rdmq(['status', '--control', cluster!.control]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('CORRUPT: 2 fenced range(s)');
    expect(status.stdout).toContain(`${topic}-0 offsets [150, 200) segment ${sealedFlip.segmentId} bytes [${sealedFlip.startPosition}, ${sealedFlip.endPosition})`);
    expect(status.stdout).toContain(`${topic}-0 offsets [1050, 1100) segment ${openFlip.segmentId} bytes [${openFlip.startPosition}, ${openFlip.endPosition})`);
    const metrics = await (await fetch(`http://127.0.0.1:${cluster!.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/rdmq_storage_fenced_ranges\{role="start"\} 2/);
    expect(metrics).toMatch(/rdmq_partition_fenced_ranges\{topic="fenced",partition="0",role="start"\} 2/);
  });

  it('gives Kafka readers the records before a range, then CORRUPT_MESSAGE, and the records after it when they seek past', async () => {
    // kcat: librdkafka without a group; it calls CORRUPT_MESSAGE "Invalid message".
    const corrupt = expect.stringContaining('Broker: Invalid message');
    expect(await readWithKcat(cluster!.kafkaPort, topic, 0, Infinity)).toEqual({ offsets: range(0, 150), error: corrupt });
    expect(await readWithKcat(cluster!.kafkaPort, topic, 200, Infinity)).toEqual({ offsets: range(200, 1050), error: corrupt });
    expect(await readWithKcat(cluster!.kafkaPort, topic, 1100, acked - 1100)).toEqual({ offsets: range(1100, acked) });
  });

  it('gives an SDK consumer the records before a range, then a CORRUPT_MESSAGE error', async () => {
    const sdk = new Rdmq({ control: cluster!.control }).consumer();
    await sdk.connect();
    await sdk.subscribe({ topic, fromBeginning: true });
    const offsets: number[] = [];
    const error = await new Promise<Error>((resolve, reject) => {
      sdk.run({ eachMessage: ({ message }) => void offsets.push(Number(message.offset)) }, resolve).catch(reject);
    });
    await sdk.disconnect();
    expect(offsets).toEqual(range(0, 150));
    expect(error).toMatchObject({ errorCode: 2, type: 'CORRUPT_MESSAGE', message: expect.stringContaining('offsets [150, 200)') });
  });

  it('hands new records offsets after the old end: none is handed out twice', async () => {
    const producer = kafkaAt(cluster!.kafkaPort).producer();
    await producer.connect();
    const [sent] = await producer.send({ topic, messages: range(0, 10).map((i) => ({ value: `after-${i}` })), acks: -1 });
    await producer.disconnect();
    expect(sent.baseOffset).toBe(String(acked));
  });

  it('becomes a skip marker only on rdmq corruption skip; kcat and the SDK then step over it, and it stays so after a restart', async () => {
    for (const flip of [sealedFlip, openFlip]) {
      const skip = await rdmq(['corruption', 'skip', '--topic', topic, '--partition', '0', '--segment', String(flip.segmentId), '--control', cluster!.control]);
      expect(skip).toMatchObject({ code: 0, stdout: expect.stringContaining(`segment ${flip.segmentId} bytes [${flip.startPosition}, ${flip.endPosition}): a skip marker now covers them`) });
    }
    expect((await rdmq(['corruption', 'list', '--control', cluster!.control])).stdout).toBe('no fenced ranges\n');
    const expected = [...range(0, 150), ...range(200, 1050), ...range(1100, acked + 10)];
    expect(await readWithKcat(cluster!.kafkaPort, topic, 0, expected.length)).toEqual({ offsets: expected });
    const sdk = new Rdmq({ control: cluster!.control }).consumer();
    await sdk.connect();
    await sdk.subscribe({ topic, fromBeginning: true });
    const sdkOffsets: number[] = [];
    await new Promise<void>((resolve, reject) => {
      sdk.run({ eachMessage: ({ message }) => void (sdkOffsets.push(Number(message.offset)) === expected.length && resolve()) }, reject).catch(reject);
    });
    await sdk.disconnect();
    expect(sdkOffsets).toEqual(expected);

    await cluster!.stop({ keepData: true });
    cluster = undefined;
    cluster = await startCluster(options);
    expect(cluster.stderr()).not.toContain('CORRUPT');
    const admin = kafkaAt(cluster.kafkaPort).admin();
    await admin.connect();
    expect(await admin.fetchTopicOffsets(topic)).toEqual([expect.objectContaining({ high: String(acked + 10) })]);
    await admin.disconnect();
  }, 60_000);

  it('fences a whole segment whose header copies are both unreadable, keeps its slot, and starts new offsets past it', async () => {
    await cluster!.stop({ keepData: true });
    cluster = undefined;
    const regionPath = path.join(dataDir, 'region');
    const store = SegmentStore.open({ path: regionPath, regionSizeBytes: 64 * 1024 * 1024, segmentSizeBytes: 1024 * 1024, durability: 'flush', logger: { warn: () => undefined } });
    const open = store.describe()[1];
    const headerPage = store.dataRange(open.segmentId).regionOffset - 4096;
    const freeBefore = store.usage().freeSegments;
    store.close();
    const fd = fs.openSync(regionPath, 'r+');
    for (const at of [headerPage + 20, headerPage + 128 + 20]) fs.writeSync(fd, Buffer.from([0xde, 0xad]), 0, 2, at); // both copies
    fs.closeSync(fd);

    cluster = await startCluster(options);
    const lostEnd = 1000n + BigInt(1024 * 1024 - 4096); // the bound: every record takes at least one byte
    expect(cluster.stderr()).toMatch(/CORRUPT segment header: the segment at index 1 is unreadable/);
    expect(cluster.stderr()).toContain(`segment ${open.segmentId} is missing from storage (its header is unreadable); offsets [1000, ${lostEnd}) are fenced`);
    const status = await rdmq(['status', '--control', cluster.control]);
    expect(status.stdout).toContain(`${topic}-0 offsets [1000, ${lostEnd}) segment ${open.segmentId} whole segment (header unreadable)`);
    expect(status.stdout).toMatch(/storage slot 1: neither header copy is valid/);
    const corrupt = expect.stringContaining('Broker: Invalid message');
    expect(await readWithKcat(cluster.kafkaPort, topic, 990, Infinity)).toEqual({ offsets: range(990, 1000), error: corrupt });
    const producer = kafkaAt(cluster.kafkaPort).producer();
    await producer.connect();
    const [sent] = await producer.send({ topic, messages: [{ value: 'after-lost' }], acks: -1 });
    await producer.disconnect();
    expect(BigInt(sent.baseOffset!)).toBe(lostEnd);
    const metrics = await (await fetch(`http://127.0.0.1:${cluster.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/rdmq_storage_unreadable_segments\{role="start"\} 1/);
    expect(metrics).toMatch(new RegExp(`rdmq_storage_segments_free\\{role="start"\\} ${freeBefore - 1}`));
  }, 60_000);
});

describe('a corrupt broker metadata log', () => {
  const dataDirs: string[] = [];
  afterAll(() => dataDirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  it('stops rdmq start with the file and position when a record in the middle fails its CRC, until rdmq metadata truncate; a torn tail is cut with a warning', async () => {
    const dataDir = fs.mkdtempSync(path.join('/dev/shm', 'rdmq-corrupt-meta-'));
    dataDirs.push(dataDir);
    const options: ClusterOptions = { dataDir, regionSize: '64M', segmentSize: '1M' };
    let cluster = await startCluster(options);
    try {
      const admin = kafkaAt(cluster.kafkaPort).admin();
      await admin.connect();
      for (const topic of ['one', 'two', 'three', 'four']) await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
      await admin.disconnect();
    } finally {
      await cluster.stop({ keepData: true });
    }
    const logPath = path.join(dataDir, 'meta', 'metadata.log');
    const original = fs.readFileSync(logPath);
    const corrupted = Buffer.from(original);
    corrupted[Math.floor(corrupted.length / 2)] ^= 0x01;
    fs.writeFileSync(logPath, corrupted);

    const refusal = await startCluster(options).then(
      async (c) => {
        await c.stop({ keepData: true });
        return '';
      },
      (err: Error) => err.message,
    );
    const named = /metadata\.log is corrupt at byte (\d+) .*rdmq metadata truncate --data (\S+) --at (\d+)/.exec(refusal);
    expect(named).not.toBeNull();
    expect(named![2]).toBe(dataDir);
    expect(fs.readFileSync(logPath).equals(corrupted)).toBe(true); // nothing cut
    const check = await rdmq(['metadata', 'check', '--data', dataDir]);
    expect(check).toMatchObject({ code: 1, stdout: expect.stringContaining(`corrupt at byte ${named![1]}`) });

    const truncate = await rdmq(['metadata', 'truncate', '--data', dataDir, '--at', named![3]]);
    expect(truncate).toMatchObject({ code: 0, stdout: expect.stringContaining(`cut at byte ${named![3]}`) });
    cluster = await startCluster(options);
    try {
      const admin = kafkaAt(cluster.kafkaPort).admin();
      await admin.connect();
      const topics = await admin.listTopics();
      await admin.disconnect();
      expect(topics).toContain('one'); // records before the corrupt one survive
    } finally {
      await cluster.stop({ keepData: true });
    }

    // A torn tail (an append cut short by a crash) is cut on start, with a warning.
    const intact = fs.statSync(logPath).size;
    fs.truncateSync(logPath, intact - 3);
    cluster = await startCluster(options);
    try {
      expect(cluster.stderr()).toMatch(/metadata\.log: cut \d+ bytes of torn or corrupt tail/);
    } finally {
      await cluster.stop();
    }
  }, 60_000);
});
