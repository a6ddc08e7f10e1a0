// The metadata log of an HA broker group, on a real etcd (spawned from /usr/bin/etcd, data in /dev/shm).
import * as fs from 'fs';
import * as path from 'path';
import { Etcd3 } from 'etcd3';
import { freeLoopbackPort, RunningEtcd, startEtcd } from '../bench/cluster';
import { EtcdMetadataLog, EtcdMetadataLogError, EtcdMetadataLogOptions } from './etcd-metadata-log';

interface Record_ {
  key: string;
  add: bigint;
}
interface State {
  total: bigint;
  keys: Map<string, number>;
  applied: number;
}

const PREFIX = '/meta-test';
const LEADER_KEY = `${PREFIX}/leader`;

let dir: string;
let etcd: RunningEtcd;
let client: Etcd3;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join('/dev/shm', 'rdmq-etcd-log-'));
  etcd = await startEtcd(path.join(dir, 'etcd'), { client: await freeLoopbackPort(), peer: await freeLoopbackPort() });
  client = new Etcd3({ hosts: etcd.url });
}, 30_000);

afterAll(async () => {
  client?.close();
  await etcd?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  await client.delete().prefix(PREFIX);
});

/** Makes this test the leader: a fresh leader key; its create revision is the epoch. */
async function becomeLeader(): Promise<string> {
  await client.delete().key(LEADER_KEY);
  await client.put(LEADER_KEY).value('test');
  const reply = await client.get(LEADER_KEY).exec();
  return String(reply.kvs[0].create_revision);
}

function options(epoch: string, overrides: Partial<EtcdMetadataLogOptions<State, Record_>> = {}): EtcdMetadataLogOptions<State, Record_> {
  return {
    fsync: false,
    snapshotEveryRecords: 0,
    initialState: () => ({ total: 0n, keys: new Map(), applied: 0 }),
    reduce: (state, record) => {
      state.total += record.add;
      state.keys.set(record.key, (state.keys.get(record.key) ?? 0) + 1);
      state.applied++;
      return state;
    },
    client,
    prefix: PREFIX,
    leaderKey: LEADER_KEY,
    epoch,
    warn: () => undefined,
    ...overrides,
  };
}

async function storedRecordKeys(): Promise<string[]> {
  return client.getAll().prefix(`${PREFIX}/meta/log/`).keys();
}

it('records appended by one leader are replayed in order by the next, across snapshots that delete the records they hold', async () => {
  const first = await EtcdMetadataLog.open(options(await becomeLeader(), { snapshotEveryRecords: 5 }));
  // Same tick: one transaction; then one at a time.
  await Promise.all([1, 2, 3].map((n) => first.append({ key: `k${n}`, add: BigInt(n) })));
  for (let n = 4; n <= 12; n++) await first.append({ key: `k${n % 4}`, add: BigInt(n) });
  await first.snapshot();
  await first.append({ key: 'after', add: 100n });
  await first.close();
  expect(first.state.total).toBe(178n);
  expect(first.lastSequence).toBe(13);
  // The snapshot holds records 1..12: only the one after it is left as a key.
  expect(await storedRecordKeys()).toEqual([`${PREFIX}/meta/log/${String(13).padStart(20, '0')}`]);

  const next = await EtcdMetadataLog.open(options(await becomeLeader()));
  expect(next.state).toEqual(first.state);
  expect(next.lastSequence).toBe(13);
  await next.append({ key: 'next', add: 1n });
  const third = await EtcdMetadataLog.open(options(await becomeLeader()));
  expect(third.state.total).toBe(179n);
  expect(third.lastSequence).toBe(14);
});

it('a state larger than one etcd request is snapshotted in chunks and read back whole', async () => {
  const log = await EtcdMetadataLog.open(options(await becomeLeader()));
  const big = 'x'.repeat(300 * 1024);
  // Ten 300 KiB records in one tick: more than one transaction may carry.
  await Promise.all(Array.from({ length: 10 }, (_, n) => log.append({ key: `${n}${big}`, add: 1n })));
  await log.snapshot();
  const heads = await client.get(`${PREFIX}/meta/snapshot`).json() as { chunks: number };
  expect(heads.chunks).toBeGreaterThan(1);
  const reopened = await EtcdMetadataLog.open(options(await becomeLeader()));
  expect(reopened.state.keys.size).toBe(10);
  expect(reopened.state.total).toBe(10n);
});

it('a deposed leader cannot append: once the leader key is another term\'s, its writes fail NOT_LEADER and change nothing in etcd', async () => {
  const failures: EtcdMetadataLogError[] = [];
  const old = await EtcdMetadataLog.open(options(await becomeLeader(), { onFailure: (err) => failures.push(err) }));
  await old.append({ key: 'before', add: 1n });
  const newEpoch = await becomeLeader();
  await expect(old.append({ key: 'late', add: 1n })).rejects.toMatchObject({ code: 'NOT_LEADER', retriable: true });
  await expect(old.append({ key: 'later', add: 1n })).rejects.toMatchObject({ code: 'NOT_LEADER' });
  await expect(old.snapshot()).rejects.toMatchObject({ code: 'NOT_LEADER' });
  expect(failures.map((f) => f.code)).toEqual(['NOT_LEADER']);

  const current = await EtcdMetadataLog.open(options(newEpoch));
  expect([...current.state.keys.keys()]).toEqual(['before']);
  expect(await storedRecordKeys()).toHaveLength(1);
});

it('a gap in the stored records is refused on replay, not skipped', async () => {
  const log = await EtcdMetadataLog.open(options(await becomeLeader()));
  for (let n = 1; n <= 3; n++) await log.append({ key: `k${n}`, add: 1n });
  await client.delete().key(`${PREFIX}/meta/log/${String(2).padStart(20, '0')}`);
  await expect(EtcdMetadataLog.open(options(await becomeLeader()))).rejects.toMatchObject({ code: 'REPLAY_FAILED', message: expect.stringContaining('record 3 in etcd follows record 1') });
});
