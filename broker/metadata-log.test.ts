import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkMetadataLog, MetadataLog, MetadataLogError, MetadataLogOptions, decodePayload, encodePayload, truncateMetadataLog } from './metadata-log';

interface CounterRecord {
  add: bigint;
  key: string;
}
interface CounterState {
  total: bigint;
  keys: Map<string, number>;
  applied: number;
}

function options(overrides: Partial<MetadataLogOptions<CounterState, CounterRecord>> = {}) {
  const warnings: string[] = [];
  const opts: MetadataLogOptions<CounterState, CounterRecord> = {
    fsync: false,
    snapshotEveryRecords: 0,
    initialState: () => ({ total: 0n, keys: new Map(), applied: 0 }),
    reduce: (state, record) => {
      state.total += record.add;
      state.keys.set(record.key, (state.keys.get(record.key) ?? 0) + 1);
      state.applied++;
      return state;
    },
    warn: (message) => warnings.push(message),
    ...overrides,
  };
  return { opts, warnings };
}

let dir: string;
const opened: MetadataLog<CounterState, CounterRecord>[] = [];
async function openLog(opts: MetadataLogOptions<CounterState, CounterRecord>) {
  const log = await MetadataLog.open(dir, opts);
  opened.push(log);
  return log;
}
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rdmq-metadata-log-'));
});
afterEach(async () => {
  for (const log of opened.splice(0)) await log.close();
  await fs.rm(dir, { recursive: true, force: true });
});

async function appendMany(log: MetadataLog<CounterState, CounterRecord>, count: number, from = 0): Promise<void> {
  await Promise.all(Array.from({ length: count }, (_, i) => log.append({ add: BigInt(from + i), key: `k${(from + i) % 3}` })));
}

const logFile = () => path.join(dir, 'metadata.log');

describe('MetadataLog', () => {
  test('appended records are replayed when the log is reopened, bigints and maps intact', async () => {
    const log = await openLog(options().opts);
    await log.append({ add: 1n << 70n, key: 'a' });
    await log.append({ add: 5n, key: 'b' });
    expect(log.state.total).toBe((1n << 70n) + 5n);
    await log.close();

    const reopened = await openLog(options().opts);
    expect(reopened.state.total).toBe((1n << 70n) + 5n);
    expect([...reopened.state.keys]).toEqual([['a', 1], ['b', 1]]);
    expect(reopened.lastSequence).toBe(2);
    await reopened.append({ add: 1n, key: 'a' });
    await reopened.close();
    expect((await openLog(options().opts)).state.applied).toBe(3);
  });

  test('state changes only once the append has resolved', async () => {
    const log = await openLog(options().opts);
    const pending = log.append({ add: 7n, key: 'a' });
    expect(log.state.total).toBe(0n);
    await pending;
    expect(log.state.total).toBe(7n);
    await log.close();
  });

  test('appends issued in the same tick share one write and one fsync', async () => {
    const log = await openLog(options({ fsync: true }).opts);
    await appendMany(log, 100);
    expect(log.stats).toMatchObject({ appends: 100, writes: 1, fsyncs: 1 });
    await log.append({ add: 1n, key: 'x' });
    expect(log.stats).toMatchObject({ writes: 2, fsyncs: 2 });
    await log.close();
    const reopened = await openLog(options({ fsync: true }).opts);
    expect(reopened.state.applied).toBe(101);
    await reopened.close();
  });

  test('without fsync records are still written and replayed', async () => {
    const log = await openLog(options({ fsync: false }).opts);
    await appendMany(log, 10);
    expect(log.stats.fsyncs).toBe(0);
    await log.close();
    expect((await openLog(options().opts)).state.applied).toBe(10);
  });

  test('a log truncated mid-record is cut at the last good record with a warning', async () => {
    const log = await openLog(options().opts);
    await appendMany(log, 5);
    await log.close();
    const full = await fs.stat(logFile());
    await fs.truncate(logFile(), full.size - 3);

    const { opts, warnings } = options();
    const reopened = await openLog(opts);
    expect(reopened.state.applied).toBe(4);
    expect(reopened.stats.tornTailBytes).toBeGreaterThan(0);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/cut \d+ bytes of torn or corrupt tail .* after record 4 \(frame of \d+ bytes runs past the end/);
    // New appends follow the last good record and survive another reopen.
    await reopened.append({ add: 100n, key: 'z' });
    await reopened.close();
    const again = await openLog(options().opts);
    expect(again.state.applied).toBe(5);
    expect(again.lastSequence).toBe(5);
    await again.close();
  });

  test('a flipped byte in the last record fails its CRC and only that record is dropped', async () => {
    const log = await openLog(options().opts);
    await appendMany(log, 3);
    await log.close();
    const bytes = await fs.readFile(logFile());
    bytes[bytes.length - 2] ^= 0xff;
    await fs.writeFile(logFile(), bytes);

    const { opts, warnings } = options();
    const reopened = await openLog(opts);
    expect(reopened.state.applied).toBe(2);
    expect(warnings[0]).toContain('CRC32C mismatch');
    await reopened.close();
  });

  test('a flipped byte in a record with records after it refuses to open, naming the file and byte, and cuts nothing', async () => {
    const log = await openLog(options().opts);
    await appendMany(log, 5);
    await log.close();
    const bytes = await fs.readFile(logFile());
    const frameBytes = (bytes.length - 8) / 5; // five records of the same size
    const second = 8 + frameBytes;
    bytes[second + frameBytes - 3] ^= 0x01;
    await fs.writeFile(logFile(), bytes);

    const { opts, warnings } = options();
    const err = await MetadataLog.open(dir, opts).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(MetadataLogError);
    expect((err as MetadataLogError).code).toBe('CORRUPT_LOG');
    expect((err as MetadataLogError).message).toContain(`${logFile()} is corrupt at byte ${second} (after record 1): CRC32C mismatch`);
    expect((err as MetadataLogError).message).toMatch(new RegExp(`a valid record follows at byte ${second + frameBytes}.*rdmq metadata truncate --data .* --at ${second}`));
    expect(warnings).toEqual([]);
    expect((await fs.readFile(logFile())).equals(bytes)).toBe(true); // nothing was cut
    expect(await checkMetadataLog(dir)).toMatchObject({ intact: false, message: expect.stringContaining(`corrupt at byte ${second}`) });

    // Only the named position is accepted; then the records before it open.
    await expect(truncateMetadataLog(dir, second + 1)).rejects.toThrow(`the first corrupt record starts at byte ${second}, not ${second + 1}`);
    expect(await truncateMetadataLog(dir, second)).toMatch(/cut at byte \d+ after 1 records; .*at least 3 valid records after the corrupt one.*kept as .*metadata\.log\.corrupt-/);
    const reopened = await openLog(options().opts);
    expect(reopened.state.applied).toBe(1);
    expect((await fs.readdir(dir)).some((f) => f.startsWith('metadata.log.corrupt-'))).toBe(true);
    await reopened.close();
  });

  test('a torn tail is reported by the check as cut on start, not as corruption', async () => {
    const log = await openLog(options().opts);
    await appendMany(log, 3);
    await log.close();
    const full = await fs.stat(logFile());
    await fs.truncate(logFile(), full.size - 5);
    expect(await checkMetadataLog(dir)).toMatchObject({ intact: true, message: expect.stringMatching(/torn tail of \d+ bytes .* will be cut on start/) });
  });

  test('garbage after the last record (an impossible length) is cut', async () => {
    const log = await openLog(options().opts);
    await appendMany(log, 2);
    await log.close();
    await fs.appendFile(logFile(), Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5]));
    const { opts, warnings } = options();
    const reopened = await openLog(opts);
    expect(reopened.state.applied).toBe(2);
    expect(warnings[0]).toContain('impossible frame length');
    await reopened.close();
  });

  test('a snapshot plus later appends is what a reopen rebuilds', async () => {
    const log = await openLog(options({ fsync: true }).opts);
    await appendMany(log, 10);
    await log.snapshot();
    expect((await fs.stat(logFile())).size).toBe(8);
    await appendMany(log, 5, 10);
    await log.close();

    const reopened = await openLog(options().opts);
    expect(reopened.state.applied).toBe(15);
    expect(reopened.state.total).toBe(BigInt((14 * 15) / 2));
    expect(reopened.lastSequence).toBe(15);
    await reopened.close();
  });

  test('records left in the log by a crash between snapshot and truncate are not applied twice', async () => {
    const log = await openLog(options().opts);
    await appendMany(log, 4);
    await log.close();
    const beforeSnapshot = await fs.readFile(logFile());
    const snapshotting = await openLog(options().opts);
    await snapshotting.snapshot();
    await snapshotting.close();
    await fs.writeFile(logFile(), beforeSnapshot); // as if the truncate never happened

    const reopened = await openLog(options().opts);
    expect(reopened.state.applied).toBe(4);
    await reopened.append({ add: 1n, key: 'a' });
    await reopened.close();
    expect((await openLog(options().opts)).state.applied).toBe(5);
  });

  test('snapshots are taken automatically every N records', async () => {
    const log = await openLog(options({ snapshotEveryRecords: 10 }).opts);
    for (let i = 0; i < 25; i++) await log.append({ add: 1n, key: 'a' });
    await log.close();
    expect(log.stats.snapshots).toBe(2);
    expect((await openLog(options().opts)).state.applied).toBe(25);
  });

  test('a corrupt snapshot is a clear error, not a silent reset', async () => {
    const log = await openLog(options().opts);
    await appendMany(log, 3);
    await log.snapshot();
    await log.close();
    const snapshotPath = path.join(dir, 'metadata.snapshot');
    const bytes = await fs.readFile(snapshotPath);
    bytes[bytes.length - 1] ^= 0x01;
    await fs.writeFile(snapshotPath, bytes);
    const err = await openLog(options().opts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MetadataLogError);
    expect((err as MetadataLogError).code).toBe('CORRUPT_SNAPSHOT');
    expect((err as MetadataLogError).message).toMatch(/metadata snapshot .* is corrupt \(CRC32C mismatch\)/);
  });

  test('a file that is not a metadata log is refused', async () => {
    await fs.writeFile(logFile(), 'hello, this is not a log');
    const err = await openLog(options().opts).catch((e: unknown) => e);
    expect((err as MetadataLogError).code).toBe('NOT_A_METADATA_LOG');
  });

  test('a record over the size limit is refused and appends after it still work', async () => {
    const log = await openLog(options({ maxRecordBytes: 64 }).opts);
    const err = await log.append({ add: 1n, key: 'x'.repeat(100) }).catch((e: unknown) => e);
    expect((err as MetadataLogError).code).toBe('RECORD_TOO_LARGE');
    await log.append({ add: 1n, key: 'a' });
    await log.close();
    expect((await openLog(options().opts)).lastSequence).toBe(1);
  });

  test('a closed log refuses appends', async () => {
    const log = await openLog(options().opts);
    await log.close();
    await expect(log.append({ add: 1n, key: 'a' })).rejects.toMatchObject({ code: 'CLOSED' });
  });

  test('payload encoding round-trips bigint, Map and Set', () => {
    const value = { a: 1n, m: new Map<bigint, Set<string>>([[2n, new Set(['x'])]]), s: 'plain', n: null };
    expect(decodePayload(encodePayload(value))).toEqual(value);
  });
});
