// Corruption is loud, never silent: bytes flipped inside committed records of
// the region file (one sealed segment, the open one) and inside the metadata log,
// with `rdmq start` stopped, then a restart on the same data. Nothing
// acknowledged is cut, no offset is handed out twice, readers get an error at
// the damaged range and read around it, and only an operator's command
// changes the range.
import { execFile, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Kafka, logLevel } from 'kafkajs';
import { ClusterOptions, ClusterProcess, RunningRole, startCluster, startRole } from '../bench/cluster';
import { Rdmq } from '../rdma-client';
import { SEGMENT_HEADER_PAGE_BYTES, SegmentDescriptor, SegmentStore } from '../storage-node';

const MAIN = path.join(__dirname, 'main.js');
const RECORD_BYTES = 1000;
const RECORDS_PER_SEND = 50;
// A partition's segments start at one 64 KiB slot and double up to segment.bytes
// (1 MiB here): 25 batches of ~51 KB fill segments of 1, 2, 4 and 9 batches,
// and the open 1 MiB one holds the rest.
const SENDS = 25;
const GEOMETRY = { regionSizeBytes: 64 * 1024 * 1024, segmentSizeBytes: 1024 * 1024 };

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

/** A one-partition topic with SENDS sends of RECORDS_PER_SEND records (one batch each), record i's value `${i}-` padded with x. */
async function produceSends(kafka: Kafka, topic: string): Promise<void> {
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
  /** Offsets of the damaged batch: [baseOffset, endOffset). */
  baseOffset: number;
  endOffset: number;
  /** Batches committed in the segment. */
  batchCount: number;
}

function openStore(dataDir: string): SegmentStore {
  return SegmentStore.open({ path: path.join(dataDir, 'region'), ...GEOMETRY, durability: 'flush', logger: { warn: () => undefined } });
}

/** Start positions of a segment's committed batches (every send is one batch of RECORDS_PER_SEND records). */
function batchPositions(store: SegmentStore, segment: SegmentDescriptor): number[] {
  const positions: number[] = [];
  for (let position = segment.startPosition; position < segment.commitPosition; position += 12 + store.read(segment.segmentId, position, 61).readInt32BE(8)) {
    positions.push(position);
  }
  return positions;
}

/**
 * Flips 3 bytes inside the `batchIndex`-th batch of the segment `pick`
 * chooses, straight in the region file (rdmq start is stopped).
 */
function flipInsideBatch(dataDir: string, pick: (segments: SegmentDescriptor[]) => SegmentDescriptor, batchIndex: number): Flip {
  const regionPath = path.join(dataDir, 'region');
  const store = openStore(dataDir);
  let target: { regionOffset: number } & Flip;
  try {
    const segment = pick(store.describe());
    const positions = batchPositions(store, segment);
    // Each batch holds RECORDS_PER_SEND offsets, so the damaged batch's offsets follow from its index.
    expect(Number(segment.endOffset - segment.baseOffset)).toBe(positions.length * RECORDS_PER_SEND);
    expect(positions.length).toBeGreaterThan(batchIndex + 1); // records on both sides of the range in this segment
    const position = positions[batchIndex];
    const end = batchIndex + 1 < positions.length ? positions[batchIndex + 1] : segment.commitPosition;
    const baseOffset = Number(segment.baseOffset) + batchIndex * RECORDS_PER_SEND;
    target = {
      segmentId: segment.segmentId,
      sealed: segment.sealed,
      startPosition: position,
      endPosition: end,
      baseOffset,
      endOffset: baseOffset + RECORDS_PER_SEND,
      batchCount: positions.length,
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

describe('corrupt committed data after a restart (one sealed segment, the open one)', () => {
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
      await produceSends(kafka, topic);
    } finally {
      await first.stop({ keepData: true });
    }
    // The sealed segment with the most batches (the one before the open one), and the open (last) one.
    const largestSealed = (segments: SegmentDescriptor[]): SegmentDescriptor =>
      segments.filter((s) => s.sealed).reduce((a, b) => (b.endOffset - b.baseOffset > a.endOffset - a.baseOffset ? b : a));
    const openOne = (segments: SegmentDescriptor[]): SegmentDescriptor => {
      expect(segments.filter((s) => !s.sealed)).toEqual([segments[segments.length - 1]]);
      return segments[segments.length - 1];
    };
    sealedFlip = flipInsideBatch(dataDir, largestSealed, 1);
    openFlip = flipInsideBatch(dataDir, openOne, 1);
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
    expect(sealedFlip.baseOffset).toBeGreaterThan(0);
    expect(openFlip.baseOffset).toBeGreaterThan(sealedFlip.endOffset);
    expect(log).toContain(`segment ${sealedFlip.segmentId} bytes [${sealedFlip.startPosition}, ${sealedFlip.endPosition}) offsets [${sealedFlip.baseOffset}, ${sealedFlip.endOffset}) fail their check`);
    expect(log).toContain(`segment ${openFlip.segmentId} bytes [${openFlip.startPosition}, ${openFlip.endPosition}) offsets [${openFlip.baseOffset}, ${openFlip.endOffset}) fail their check`);
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
    for (const f of [sealedFlip, openFlip]) {
      expect(status.stdout).toContain(`${topic}-0 offsets [${f.baseOffset}, ${f.endOffset}) segment ${f.segmentId} bytes [${f.startPosition}, ${f.endPosition})`);
    }
    const metrics = await (await fetch(`http://127.0.0.1:${cluster!.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/rdmq_storage_fenced_ranges\{role="start"\} 2/);
    expect(metrics).toMatch(/rdmq_partition_fenced_ranges\{topic="fenced",partition="0",role="start"\} 2/);
  });

  it('gives Kafka readers the records before a range, then CORRUPT_MESSAGE, and the records after it when they seek past', async () => {
    // kcat: librdkafka without a group; it calls CORRUPT_MESSAGE "Invalid message".
    const corrupt = expect.stringContaining('Broker: Invalid message');
    expect(await readWithKcat(cluster!.kafkaPort, topic, 0, Infinity)).toEqual({ offsets: range(0, sealedFlip.baseOffset), error: corrupt });
    expect(await readWithKcat(cluster!.kafkaPort, topic, sealedFlip.endOffset, Infinity)).toEqual({ offsets: range(sealedFlip.endOffset, openFlip.baseOffset), error: corrupt });
    expect(await readWithKcat(cluster!.kafkaPort, topic, openFlip.endOffset, acked - openFlip.endOffset)).toEqual({ offsets: range(openFlip.endOffset, acked) });
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
    expect(offsets).toEqual(range(0, sealedFlip.baseOffset));
    expect(error).toMatchObject({ errorCode: 2, type: 'CORRUPT_MESSAGE', message: expect.stringContaining(`offsets [${sealedFlip.baseOffset}, ${sealedFlip.endOffset})`) });
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
    const expected = [...range(0, sealedFlip.baseOffset), ...range(sealedFlip.endOffset, openFlip.baseOffset), ...range(openFlip.endOffset, acked + 10)];
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
    const store = openStore(dataDir);
    const segments = store.describe();
    const open = segments[segments.length - 1];
    expect(open.sealed).toBe(false);
    const headerPage = store.dataRange(open.segmentId).regionOffset - SEGMENT_HEADER_PAGE_BYTES;
    const slot = (headerPage - store.geometry.slotsOffset) / store.geometry.slotSizeBytes;
    // Storage cannot know the size of a segment whose header is gone: it keeps the
    // slots up to the last one holding its bytes; the never-written tail after them is free.
    const slotBytes = store.geometry.slotSizeBytes;
    const keptSlots = Math.ceil((SEGMENT_HEADER_PAGE_BYTES + open.writePosition) / slotBytes);
    const tailBytes = open.dataCapacityBytes + SEGMENT_HEADER_PAGE_BYTES - keptSlots * slotBytes;
    const before = store.usage();
    store.close();
    const fd = fs.openSync(regionPath, 'r+');
    for (const at of [headerPage + 20, headerPage + 128 + 20]) fs.writeSync(fd, Buffer.from([0xde, 0xad]), 0, 2, at); // both copies
    fs.closeSync(fd);

    cluster = await startCluster(options);
    const lostEnd = open.baseOffset + BigInt(open.dataCapacityBytes); // the bound: every record takes at least one byte
    const lostBase = Number(open.baseOffset);
    const where = keptSlots === 1 ? `slot ${slot}` : `slots ${slot}..${slot + keptSlots - 1}`;
    expect(cluster.stderr()).toContain(`CORRUPT segment header: the segment at ${where} is unreadable`);
    expect(cluster.stderr()).toContain(`segment ${open.segmentId} is missing from storage (its header is unreadable); offsets [${lostBase}, ${lostEnd}) are fenced`);
    const status = await rdmq(['status', '--control', cluster.control]);
    expect(status.stdout).toContain(`${topic}-0 offsets [${lostBase}, ${lostEnd}) segment ${open.segmentId} whole segment (header unreadable)`);
    expect(status.stdout).toContain(`storage slot ${slot}: neither header copy is valid`);
    const corrupt = expect.stringContaining('Broker: Invalid message');
    expect(await readWithKcat(cluster.kafkaPort, topic, lostBase - 10, Infinity)).toEqual({ offsets: range(lostBase - 10, lostBase), error: corrupt });
    const producer = kafkaAt(cluster.kafkaPort).producer();
    await producer.connect();
    const [sent] = await producer.send({ topic, messages: [{ value: 'after-lost' }], acks: -1 });
    await producer.disconnect();
    expect(BigInt(sent.baseOffset!)).toBe(lostEnd);
    const metrics = await (await fetch(`http://127.0.0.1:${cluster.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/rdmq_storage_unreadable_segments\{role="start"\} 1/);
    // The kept slots stay out of the free pool (counted as allocated); the new segment came out of the free pool.
    const gauge = (name: string): number => Number(new RegExp(`${name}\\{role="start"\\} (\\d+)`).exec(metrics)![1]);
    const newSegmentBytes = gauge('rdmq_storage_allocated_bytes') - (before.allocatedBytes - tailBytes);
    expect(newSegmentBytes).toBeGreaterThan(0);
    expect(gauge('rdmq_storage_free_bytes')).toBe(before.freeBytes + tailBytes - newSegmentBytes);
    expect(gauge('rdmq_storage_segments')).toBe(before.segments); // one lost, one new

    // And in the region: the kept run is still there, whole, and no segment overlaps it.
    await cluster.stop({ keepData: true });
    cluster = undefined;
    const after = openStore(dataDir);
    try {
      expect(after.recovery.segmentsLost).toEqual([expect.objectContaining({ index: slot, slotCount: keptSlots })]);
      for (const s of after.describe()) {
        const first = (after.dataRange(s.segmentId).regionOffset - SEGMENT_HEADER_PAGE_BYTES - after.geometry.slotsOffset) / slotBytes;
        const last = first + (s.dataCapacityBytes + SEGMENT_HEADER_PAGE_BYTES) / slotBytes - 1;
        expect(last < slot || first >= slot + keptSlots).toBe(true);
      }
    } finally {
      after.close();
    }
  }, 60_000);
});

describe('corrupt committed data while rdmq start runs', () => {
  const metricValue = (metrics: string, name: string): number => Number(new RegExp(`^${name}\\{[^}]*\\} (\\d+)`, 'm').exec(metrics)?.[1] ?? NaN);
  const metricsOf = async (c: ClusterProcess): Promise<string> => (await fetch(`http://127.0.0.1:${c.metricsPort}/metrics`)).text();
  async function until<T>(probe: () => Promise<T | undefined> | T | undefined, what: string): Promise<T> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** A stray write into a running node's region file: 3 bytes of record 1000's value (offsets [1000, 1050) are one send). */
  function damageRecord1000(regionPath: string): void {
    const region = fs.readFileSync(regionPath);
    const value = Buffer.from('1000-'.padEnd(40, 'x'));
    const at = region.indexOf(value);
    expect(at).toBeGreaterThan(0);
    expect(region.lastIndexOf(value)).toBe(at);
    const fd = fs.openSync(regionPath, 'r+');
    fs.writeSync(fd, Buffer.from('!!!'), 0, 3, at + 10);
    fs.closeSync(fd);
  }

  /** The scrubber's one line about the damaged send, and how `rdmq status` names that range. */
  async function scrubberReport(stderr: () => string, topic: string): Promise<{ segmentId: string; start: string; end: string; where: string }> {
    const line = await until(() => /CORRUPT committed data found by the scrubber: .*segment (\d+) bytes \[(\d+), (\d+)\) offsets \[(\d+), (\d+)\)/.exec(stderr()) ?? undefined, 'the scrubber to report');
    const [, segmentId, start, end, baseOffset, endOffset] = line;
    expect([Number(baseOffset), Number(endOffset)]).toEqual([1000, 1000 + RECORDS_PER_SEND]);
    return { segmentId, start, end, where: `${topic}-0 offsets [${baseOffset}, ${endOffset}) segment ${segmentId} bytes [${start}, ${end})` };
  }

  it('is found by the background scrubber, reported once, fenced for readers at once, and replaced only by rdmq corruption skip', async () => {
    const topic = 'scrubbed';
    const acked = SENDS * RECORDS_PER_SEND;
    const dataDir = fs.mkdtempSync(path.join('/dev/shm', 'rdmq-scrub-'));
    const options: ClusterOptions = { dataDir, durability: 'flush', regionSize: '64M', segmentSize: '1M', extraArgs: ['--scrub-rate', '64M'] };
    let cluster: ClusterProcess | undefined = await startCluster(options);
    try {
      await produceSends(kafkaAt(cluster.kafkaPort), topic);
      const running = cluster;
      const passes = await until(async () => {
        const m = await metricsOf(running);
        return metricValue(m, 'rdmq_storage_scrub_checked_bytes') >= acked * RECORD_BYTES ? metricValue(m, 'rdmq_storage_scrub_passes') : undefined;
      }, 'the scrubber to check every committed byte');
      expect(metricValue(await metricsOf(running), 'rdmq_storage_scrub_damaged_ranges')).toBe(0);

      damageRecord1000(path.join(dataDir, 'region'));
      const { segmentId, start, end, where } = await scrubberReport(running.stderr, topic);
      // The broker takes the fence at its next probe of the node: no restart.
      await until(async () => ((await rdmq(['status', '--control', running.control])).stdout.includes(where) ? true : undefined), 'rdmq status to list the range');
      const corrupt = expect.stringContaining('Broker: Invalid message');
      expect(await readWithKcat(running.kafkaPort, topic, 900, Infinity)).toEqual({ offsets: range(900, 1000), error: corrupt });
      expect(await readWithKcat(running.kafkaPort, topic, 1000 + RECORDS_PER_SEND, acked - 1000 - RECORDS_PER_SEND)).toEqual({ offsets: range(1000 + RECORDS_PER_SEND, acked) });
      const metrics = await metricsOf(running);
      expect(metricValue(metrics, 'rdmq_storage_scrub_damaged_ranges')).toBe(1);
      expect(metricValue(metrics, 'rdmq_storage_fenced_ranges')).toBe(1);
      expect(metricValue(metrics, 'rdmq_storage_scrub_passes')).toBeGreaterThan(passes);
      // Reported once, however many passes run over it; new records still get new offsets.
      await until(async () => (metricValue(await metricsOf(running), 'rdmq_storage_scrub_passes') > metricValue(metrics, 'rdmq_storage_scrub_passes') + 2 ? true : undefined), 'more passes');
      expect(running.stderr().match(/CORRUPT committed data found by the scrubber/g)).toHaveLength(1);
      const producer = kafkaAt(running.kafkaPort).producer();
      await producer.connect();
      const [sent] = await producer.send({ topic, messages: [{ value: 'after' }], acks: -1 });
      await producer.disconnect();
      expect(sent.baseOffset).toBe(String(acked));

      const skip = await rdmq(['corruption', 'skip', '--topic', topic, '--partition', '0', '--segment', segmentId, '--control', running.control]);
      expect(skip).toMatchObject({ code: 0, stdout: expect.stringContaining(`segment ${segmentId} bytes [${start}, ${end}): a skip marker now covers them`) });
      const expected = [...range(900, 1000), ...range(1000 + RECORDS_PER_SEND, acked + 1)];
      expect(await readWithKcat(running.kafkaPort, topic, 900, expected.length)).toEqual({ offsets: expected });

      await cluster.stop({ keepData: true });
      cluster = undefined;
      cluster = await startCluster(options);
      expect(cluster.stderr()).not.toContain('CORRUPT');
    } finally {
      await cluster?.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);

  it('with the scrubber off, Kafka readers get CORRUPT_MESSAGE at a damaged batch, never its bytes; the gateway reports it once', async () => {
    const topic = 'unscrubbed';
    const dataDir = fs.mkdtempSync(path.join('/dev/shm', 'rdmq-unscrubbed-'));
    const cluster = await startCluster({ dataDir, durability: 'flush', regionSize: '64M', segmentSize: '1M', extraArgs: ['--scrub-rate', '0'] });
    try {
      await produceSends(kafkaAt(cluster.kafkaPort), topic);
      damageRecord1000(path.join(dataDir, 'region'));
      const corrupt = expect.stringContaining('Broker: Invalid message');
      for (let read = 0; read < 2; read++) expect(await readWithKcat(cluster.kafkaPort, topic, 900, Infinity)).toEqual({ offsets: range(900, 1000), error: corrupt });
      expect(await readWithKcat(cluster.kafkaPort, topic, 1000 + RECORDS_PER_SEND, SENDS * RECORDS_PER_SEND - 1000 - RECORDS_PER_SEND)).toEqual({ offsets: range(1000 + RECORDS_PER_SEND, SENDS * RECORDS_PER_SEND) });
      expect(cluster.stderr().match(/CORRUPT batch at unscrubbed-0 segment \d+ position \d+: its CRC32C does not match its bytes on any of its 1 copy/g)).toHaveLength(1);
      // Nothing is fenced until a scrubber or a restart's recovery finds it.
      expect((await rdmq(['status', '--control', cluster.control])).stdout).not.toContain('CORRUPT');
    } finally {
      await cluster.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('run apart, the broker takes the fence from the storage node over the control plane', async () => {
    const topic = 'scrubbed-apart';
    const dir = fs.mkdtempSync(path.join('/dev/shm', 'rdmq-scrub-apart-'));
    const loopback = '127.0.0.1:0';
    const roles: RunningRole<{ controlPort: number; kafkaPort?: number }>[] = [];
    try {
      const storage = await startRole<{ controlPort: number }>([MAIN, 'storage', '--data', path.join(dir, 'storage'), '--control', loopback, '--fastpath', loopback, '--metrics', loopback,
        '--region-size', '64M', '--segment-size', '1M', '--scrub-rate', '64M']);
      roles.push(storage);
      const broker = await startRole<{ controlPort: number; kafkaPort: number }>([MAIN, 'broker', '--storage', `127.0.0.1:${storage.ready.controlPort}`, '--data', path.join(dir, 'broker'),
        '--control', loopback, '--fastpath', loopback, '--metrics', loopback, '--kafka', loopback, '--segment-size', '1M']);
      roles.push(broker);
      await produceSends(kafkaAt(broker.ready.kafkaPort), topic);
      damageRecord1000(path.join(dir, 'storage', 'region'));
      const { where } = await scrubberReport(storage.stderr, topic);
      const control = `127.0.0.1:${broker.ready.controlPort}`;
      await until(async () => ((await rdmq(['status', '--control', control])).stdout.includes(where) ? true : undefined), 'rdmq status to list the range');
      expect(await readWithKcat(broker.ready.kafkaPort, topic, 900, Infinity)).toEqual({ offsets: range(900, 1000), error: expect.stringContaining('Broker: Invalid message') });
    } finally {
      for (const role of roles.reverse()) await role.signal('SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
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
