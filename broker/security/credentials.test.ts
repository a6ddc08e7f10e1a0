// The users in the broker's metadata (credentials.ts): what the log holds,
// and that they come back from the log and from a snapshot.
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { passwordMatches, saltedPassword } from '../../format/sasl';
import { MetadataStore } from '../topics';
import { UserStore } from './credentials';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'rdmq-users-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const upsertion = (user: string, password: string, mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512' = 'SCRAM-SHA-256', iterations = 4096) => {
  const salt = Buffer.from(`${user}-salt`);
  return { user, mechanism, iterations, salt, saltedPassword: saltedPassword(mechanism, password, salt, iterations) };
};

describe('UserStore', () => {
  it('keeps salt, iterations and keys — never the password or the salted password — and gets them back after a restart and a snapshot', async () => {
    let metadata = await MetadataStore.open(dir, { fsync: true, snapshotEveryRecords: 0 });
    const given = upsertion('alice', 'correct horse');
    expect(await new UserStore(metadata).alter([given, upsertion('alice', 'battery staple', 'SCRAM-SHA-512', 8192)], [])).toEqual([{ user: 'alice', error: null }]);
    await metadata.close();
    const log = await fs.readFile(path.join(dir, 'metadata.log'));
    expect(log.includes('correct horse')).toBe(false);
    expect(log.includes(given.saltedPassword.toString('base64'))).toBe(false);
    expect(log.includes(given.saltedPassword)).toBe(false);

    metadata = await MetadataStore.open(dir, { fsync: true, snapshotEveryRecords: 0 });
    await metadata.snapshot();
    await metadata.close();
    metadata = await MetadataStore.open(dir, { fsync: true, snapshotEveryRecords: 0 });
    const users = new UserStore(metadata);
    expect(passwordMatches(users.lookup('alice', 'SCRAM-SHA-256')!, 'correct horse')).toBe(true);
    expect(passwordMatches(users.lookup('alice', 'SCRAM-SHA-512')!, 'battery staple')).toBe(true);
    expect(users.describe()).toEqual([
      { user: 'alice', error: null, description: { user: 'alice', credentials: [{ mechanism: 'SCRAM-SHA-256', iterations: 4096 }, { mechanism: 'SCRAM-SHA-512', iterations: 8192 }] } },
    ]);
    await metadata.close();
  });

  it('refuses per user, as Kafka does: a mechanism twice, too few iterations, deleting what does not exist; a user goes with its last credential', async () => {
    const metadata = await MetadataStore.open(dir, { fsync: false, snapshotEveryRecords: 0 });
    const users = new UserStore(metadata);
    const results = await users.alter([upsertion('bob', 'pw'), upsertion('bob', 'pw2'), upsertion('carol', 'pw', 'SCRAM-SHA-256', 100), upsertion('dave', 'pw')], [{ user: 'erin', mechanism: 'SCRAM-SHA-512' }]);
    expect(results.map((r) => [r.user, r.error?.code ?? null])).toEqual([
      ['bob', 'DUPLICATE_RESOURCE'],
      ['carol', 'UNACCEPTABLE_CREDENTIAL'],
      ['dave', null],
      ['erin', 'RESOURCE_NOT_FOUND'],
    ]);
    expect(users.lookup('bob', 'SCRAM-SHA-256')).toBeUndefined();
    await users.alter([], [{ user: 'dave', mechanism: 'SCRAM-SHA-256' }]);
    expect(users.describe(['dave'])[0].error?.code).toBe('RESOURCE_NOT_FOUND');
    await metadata.close();
  });
});
