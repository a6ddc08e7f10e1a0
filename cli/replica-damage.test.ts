// Damage one copy of a replicated segment while the roles run apart (three
// `rdmq storage` nodes with their scrubbers, one `rdmq broker`, replication
// factor 2): the copy that holds damaged bytes leaves the segment's in-sync
// set, readers (kcat through the gateway) read every record intact from the
// good copy, and so do SDK consumers (each sent to another copy), nothing is
// fenced, and the segment is copied again. First a copy
// in either place of the set, then the copy that is certainly first in it
// (the one left from the first round, ahead of the copy made since): a
// broker that took the damage of a segment's first copy as the segment's
// fenced every reader there while a good copy existed.
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Kafka, logLevel } from 'kafkajs';
import { RemoteStorage } from '../broker/storage-backend';
import { decodeRecordBatch, readBatchHeader, splitBatches } from '../format';
import { Connection, PartitionFetcher, Rdmq } from '../rdma-client';
import { readTopic } from './testing/apart';
import { ReplicatedRoles } from './testing/replicated';

jest.setTimeout(120_000);

const RECORD_BYTES = 1000;
const RECORDS_PER_SEND = 50;
const SENDS = 25;
const RECORDS = SENDS * RECORDS_PER_SEND;
const valueOf = (i: number, tag = ''): string => `${tag}${i}-`.padEnd(RECORD_BYTES, 'x');

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Every value of partition 0 read with kcat through the gateway, by offset; the first error line, if any. */
function readAll(kafka: string, topic: string, want: number): Promise<{ values: string[]; error?: string }> {
  return new Promise((resolve) => {
    const kcat = spawn('/usr/bin/kcat', ['-b', kafka, '-C', '-t', topic, '-p', '0', '-o', 'beginning', '-c', String(want), '-f', '%o %s\n', '-q', '-u']);
    const values: string[] = [];
    let pending = '';
    let stderr = '';
    const timer = setTimeout(() => kcat.kill('SIGKILL'), 20_000);
    kcat.stdout.on('data', (chunk: Buffer) => {
      const lines = (pending + chunk.toString()).split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const space = line.indexOf(' ');
        values[Number(line.slice(0, space))] = line.slice(space + 1);
      }
    });
    kcat.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    kcat.on('exit', () => {
      clearTimeout(timer);
      const error = /ERROR: .*/.exec(stderr)?.[0];
      resolve(error === undefined ? { values } : { values, error });
    });
  });
}

/** Overwrites 3 bytes of record `i`'s value in a storage node's region file (the node runs on). */
function damageRecord(regionPath: string, value: string): void {
  const region = fs.readFileSync(regionPath);
  const at = region.indexOf(Buffer.from(value));
  expect(at).toBeGreaterThan(0);
  expect(region.lastIndexOf(Buffer.from(value))).toBe(at);
  const fd = fs.openSync(regionPath, 'r+');
  fs.writeSync(fd, Buffer.from('!!!'), 0, 3, at + 10);
  fs.closeSync(fd);
}

/** A one-partition topic of 25 sends of 50 records (one batch each; record i's value valueOf(i, tag)), two copies of each segment. */
async function produceTopic(brokers: string, topic: string, tag: string): Promise<void> {
  const kafka = new Kafka({ clientId: 'replica-damage', brokers: [brokers], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 2 }] });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  for (let s = 0; s < SENDS; s++) {
    await producer.send({ topic, acks: -1, messages: Array.from({ length: RECORDS_PER_SEND }, (_, j) => ({ value: valueOf(s * RECORDS_PER_SEND + j, tag) })) });
  }
  await producer.disconnect();
}

describe('a damaged copy of a replicated segment', () => {
  let roles: ReplicatedRoles;
  let nodeIds: string[];

  beforeAll(async () => {
    roles = await ReplicatedRoles.start({ storageNodes: 3, defaultReplicationFactor: 2, segmentSize: '1M', scrubRate: '64M' });
    nodeIds = await Promise.all(
      roles.storageControls().map(async (address) => {
        const storage = await RemoteStorage.connect(address);
        storage.close();
        return storage.nodeId;
      }),
    );
  });

  afterAll(async () => {
    await roles?.stop();
  });

  const holdersOf = (value: string): number[] => [0, 1, 2].filter((n) => fs.readFileSync(roles.regionPath(n)).includes(Buffer.from(value)));
  const metric = async (node: number, name: string): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${roles.storages[node]!.ready.metricsPort}/metrics`)).text();
    return Number(new RegExp(`^${name}\\{[^}]*\\} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  };
  const copiesOfEverySegment = async (): Promise<boolean> => {
    const counts = new Map<number, number>();
    for (const segments of await roles.segmentsByNode()) for (const s of segments ?? []) counts.set(s.segmentId, (counts.get(s.segmentId) ?? 0) + 1);
    return [...counts.values()].every((n) => n === 2);
  };
  const status = (): Promise<string> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [path.join(__dirname, 'main.js'), 'status', '--control', roles.control]);
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.on('exit', () => resolve(out));
    });

  /** The line of storage node `node`'s scrubber about the batch holding record `i`: segment, bytes, offsets. */
  async function scrubberFound(node: number, i: number): Promise<{ segmentId: string; start: string; end: string; base: number }> {
    const base = i - (i % RECORDS_PER_SEND);
    const pattern = new RegExp(`CORRUPT committed data found by the scrubber: .*segment (\\d+) bytes \\[(\\d+), (\\d+)\\) offsets \\[${base}, ${base + RECORDS_PER_SEND}\\)`);
    const [, segmentId, start, end] = await until(`storage node ${node}'s scrubber to report record ${i}`, () => pattern.exec(roles.storages[node]!.stderr()) ?? undefined);
    return { segmentId, start, end, base };
  }

  /** The broker's line dropping copies of `segmentId` for damage, written after `from` characters of its log. */
  const dropLine = (segmentId: string, from: number): Promise<string> =>
    until(`the broker to drop a damaged copy of segment ${segmentId}`, () =>
      roles.broker.stderr().slice(from).split('\n').find((l) => l.includes(`segment ${segmentId} in sync on `) && l.includes('committed bytes damaged on')),
    );

  /** Damages record `i` on storage node `victim`; the copy leaves its set, readers read on from the good one, the segment gets two copies again. */
  async function damageAndRecover(topic: string, victim: number, i: number): Promise<void> {
    const logFrom = roles.broker.stderr().length;
    damageRecord(roles.regionPath(victim), valueOf(i));
    const { segmentId, start, end, base } = await scrubberFound(victim, i);
    const line = await dropLine(segmentId, logFrom);
    expect(line).toContain(`committed bytes damaged on ${nodeIds[victim]} bytes [${start}, ${end}) offsets [${base}, ${base + RECORDS_PER_SEND})`);
    expect(line).not.toMatch(new RegExp(`in sync on [^:]*${nodeIds[victim]}`));

    // Nothing is fenced: the status names no range, and every reader reads every record intact.
    expect(await status()).not.toContain('CORRUPT');
    for (let read = 0; read < 3; read++) {
      const { values, error } = await readAll(roles.kafka, topic, RECORDS);
      expect(error).toBeUndefined();
      expect(values.length).toBe(RECORDS);
      expect(values.findIndex((v, at) => v !== valueOf(at))).toBe(-1);
    }
    // Two SDK readers: the broker sends them to different copies (and they check each batch's CRC).
    for (let read = 0; read < 2; read++) {
      const { records } = (await readTopic(roles.control, topic)).get(0)!;
      expect(records.length).toBe(RECORDS);
      expect(records.findIndex((r, at) => r.offset !== BigInt(at) || r.value !== valueOf(at))).toBe(-1);
    }

    // The segment is sealed (it lost a copy) and copied again from the good copy; the damaged copy is gone.
    await until('every segment to have two copies again, the damaged one gone', async () => (await copiesOfEverySegment()) && (await metric(victim, 'rdmq_storage_fenced_ranges')) === 0);
    const again = await readAll(roles.kafka, topic, RECORDS);
    expect(again.values.findIndex((v, at) => v !== valueOf(at))).toBe(-1);
  }

  it('leaves the in-sync set; readers read every record from the good copy and the segment is copied again', async () => {
    await produceTopic(roles.kafka, 'copies', '');
    const first = holdersOf(valueOf(1000));
    expect(first).toHaveLength(2);
    await damageAndRecover('copies', first[0], 1000);
    // The copy left from the first round heads the set now (a copy made by copying joins at its end).
    const kept = first[1];
    expect(holdersOf(valueOf(1000))).toContain(kept);
    await damageAndRecover('copies', kept, 1000);
  });

  it('damaged in different batches on both copies: one copy stays, its range fenced, and the segment is copied once the range is skipped', async () => {
    const topic = 'both-copies';
    await produceTopic(roles.kafka, topic, 'b');
    const holders = holdersOf(valueOf(1100, 'b'));
    expect(holders).toHaveLength(2);
    // The broker sleeps until both scrubbers have reported, so it judges both copies in one probe.
    const logFrom = roles.broker.stderr().length;
    roles.broker.child.kill('SIGSTOP');
    let found: { segmentId: string; start: string; end: string; base: number }[];
    try {
      damageRecord(roles.regionPath(holders[0]), valueOf(1100, 'b'));
      damageRecord(roles.regionPath(holders[1]), valueOf(1150, 'b'));
      found = [await scrubberFound(holders[0], 1100), await scrubberFound(holders[1], 1150)];
    } finally {
      roles.broker.child.kill('SIGCONT');
    }
    const segmentId = found[0].segmentId;
    expect(found[1].segmentId).toBe(segmentId);
    // Each copy holds a batch the other holds intact: one of them stays (the first in the set), the other leaves.
    const line = await dropLine(segmentId, logFrom);
    const leaving = holders.findIndex((n) => line.includes(`committed bytes damaged on ${nodeIds[n]} `));
    expect(leaving).toBeGreaterThanOrEqual(0);
    const fenced = found[1 - leaving];
    const where = `${topic}-0 offsets [${fenced.base}, ${fenced.base + RECORDS_PER_SEND}) segment ${segmentId} bytes [${fenced.start}, ${fenced.end})`;
    await until('rdmq status to list the range the copy left holds damaged', async () => (await status()).includes(where));
    const read = await readAll(roles.kafka, topic, RECORDS);
    expect(read.error).toContain('Broker: Invalid message');
    expect(read.values.length).toBe(fenced.base);
    expect(read.values.findIndex((v, at) => v !== valueOf(at, 'b'))).toBe(-1);

    // Sealed with one copy, it is not copied while the range is fenced: the copy would hold the damaged bytes without their fence.
    await until('the broker to say the segment waits for the skip', () => roles.broker.stderr().slice(logFrom).includes(`segment ${segmentId} is not copied to more nodes while it holds fenced ranges`));
    expect(roles.broker.stderr().match(new RegExp(`segment ${segmentId} is not copied`, 'g'))).toHaveLength(1);
    const skip = await new Promise<number>((resolve) =>
      spawn(process.execPath, [path.join(__dirname, 'main.js'), 'corruption', 'skip', '--topic', topic, '--partition', '0', '--segment', segmentId, '--control', roles.control], { stdio: 'ignore' }).on(
        'exit',
        (code) => resolve(code ?? 1),
      ),
    );
    expect(skip).toBe(0);
    await until('every segment to have two copies again, the damaged one gone', async () => (await copiesOfEverySegment()) && (await metric(holders[leaving], 'rdmq_storage_fenced_ranges')) === 0);
    const after = await readAll(roles.kafka, topic, RECORDS - RECORDS_PER_SEND);
    expect(after.error).toBeUndefined();
    const expected = Array.from({ length: RECORDS }, (_, i) => i).filter((i) => i < fenced.base || i >= fenced.base + RECORDS_PER_SEND);
    expect(after.values.flatMap((v, at) => (v === valueOf(at, 'b') ? [at] : []))).toEqual(expected);
  });
});

describe('a batch damaged on a copy before any scrubber looks (scrubbers off)', () => {
  let roles: ReplicatedRoles;

  beforeAll(async () => {
    roles = await ReplicatedRoles.start({ storageNodes: 2, defaultReplicationFactor: 2, segmentSize: '1M', scrubRate: '0' });
  });

  afterAll(async () => {
    await roles?.stop();
  });

  it('is served to Kafka readers and SDK consumers from the copy that holds it intact; when no copy does, readers get CORRUPT_MESSAGE there; each reported once', async () => {
    const topic = 'unscrubbed';
    await produceTopic(roles.kafka, topic, 'u');
    damageRecord(roles.regionPath(0), valueOf(1000, 'u'));

    // A gateway's reader takes the next copy at each fetch: of two fetches at 1000, one reads the damaged copy first.
    const connection = await Connection.open({ control: roles.control });
    const logs: string[] = [];
    const fetcher = new PartitionFetcher(connection, topic, 0, undefined, (m) => logs.push(m));
    try {
      await fetcher.open();
      for (let k = 0; k < 2; k++) {
        const { records } = await fetcher.fetch(1000n, 1 << 20);
        const first = await decodeRecordBatch(records, 0);
        expect(first.records.map((r) => r.value!.toString())).toEqual(Array.from({ length: RECORDS_PER_SEND }, (_, j) => valueOf(1000 + j, 'u')));
      }
      expect(logs).toEqual([expect.stringMatching(new RegExp(`^a batch at ${topic}-0 segment \\d+ position \\d+ failed its CRC32C on one copy; served from another copy that holds it intact$`))]);
      for (let read = 0; read < 3; read++) {
        const { values, error } = await readAll(roles.kafka, topic, RECORDS);
        expect(error).toBeUndefined();
        expect(values.findIndex((v, at) => v !== valueOf(at, 'u'))).toBe(-1);
      }

      // SDK consumers check each batch's CRC as they decode it: the two (sent to different copies) both get every record intact.
      const consumers = [0, 1].map(() => new Rdmq({ control: roles.control }).consumer());
      const got: string[][] = [[], []];
      const failures: Error[] = [];
      try {
        for (const [c, consumer] of consumers.entries()) {
          await consumer.connect();
          await consumer.subscribe({ topic, fromBeginning: true });
          await consumer.run({ eachMessage: async ({ message }) => void got[c].push(message.value!.toString()) }, (err) => failures.push(err));
        }
        await until('both SDK consumers to read every record', () => got.every((g) => g.length >= RECORDS) || failures.length > 0);
      } finally {
        for (const consumer of consumers) await consumer.disconnect();
      }
      expect(failures).toEqual([]);
      for (const values of got) expect(values.findIndex((v, at) => v !== valueOf(at, 'u'))).toBe(-1);

      // Record 1100's batch damaged on both copies: the fetch before it stops there, the fetch at it fails.
      damageRecord(roles.regionPath(0), valueOf(1100, 'u'));
      damageRecord(roles.regionPath(1), valueOf(1100, 'u'));
      const before = await fetcher.fetch(1050n, 1 << 20);
      expect(splitBatches(before.records, { batchBytesMax: 1 << 20 }).batches.map((b) => readBatchHeader(before.records, b.offset).baseOffset)).toEqual([1050n]);
      for (let k = 0; k < 2; k++) await expect(fetcher.fetch(1100n, 1 << 20)).rejects.toMatchObject({ errorCode: 2, message: expect.stringContaining('its CRC32C does not match its bytes on any copy read') });
      expect(logs.filter((m) => m.startsWith('CORRUPT batch'))).toEqual([expect.stringMatching(new RegExp(`^CORRUPT batch at ${topic}-0 segment \\d+ position \\d+: its CRC32C does not match its bytes on any of its 2 copies`))]);
      const { values, error } = await readAll(roles.kafka, topic, RECORDS);
      expect(error).toContain('Broker: Invalid message');
      expect(values.length).toBe(1100);
      expect(values.findIndex((v, at) => v !== valueOf(at, 'u'))).toBe(-1);
      // The gateway (in the broker's process) reports the batch no copy holds intact once, however often it is read
      // (the other only if its readers happened to read the damaged copy first).
      expect(roles.broker.stderr().match(/CORRUPT batch at unscrubbed-0/g)).toHaveLength(1);
      expect((roles.broker.stderr().match(/failed its CRC32C on one copy/g) ?? []).length).toBeLessThanOrEqual(1);
    } finally {
      await fetcher.close();
      await connection.close();
    }
  });
});
