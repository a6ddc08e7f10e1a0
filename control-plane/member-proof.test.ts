import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ensureClusterSecret, readClusterSecret } from './cluster-secret';
import { checkListenPlan, isLoopbackHost } from './listen-policy';
import { PROOF_AGE_MS_MAX, proofRefusal, proveMembership } from './member-proof';

const secret = randomBytes(32);
const METHOD = '/rdmq.storage.v1.StorageNode/Free';

describe('a cluster proof', () => {
  it('holds for the method, the secret and the time it was made for', () => {
    expect(proofRefusal(secret, METHOD, proveMembership(secret, METHOD))).toBeUndefined();
  });

  it('does not hold for another secret, another method, a stale time or a changed byte', () => {
    const proof = proveMembership(secret, METHOD);
    expect(proofRefusal(randomBytes(32), METHOD, proof)).toMatch(/does not match/);
    expect(proofRefusal(secret, '/rdmq.storage.v1.StorageNode/Describe', proof)).toMatch(/does not match/);
    expect(proofRefusal(secret, METHOD, proveMembership(secret, METHOD, Date.now() - PROOF_AGE_MS_MAX - 1000))).toMatch(/from this server's clock/);
    const flipped = proof.slice(0, -1) + (proof.endsWith('0') ? '1' : '0');
    expect(proofRefusal(secret, METHOD, flipped)).toMatch(/does not match/);
    expect(proofRefusal(secret, METHOD, undefined)).toMatch(/no cluster proof/);
    expect(proofRefusal(secret, METHOD, 'v1.x.y.z')).toMatch(/malformed/);
    expect(proofRefusal(undefined, METHOD, proof)).toMatch(/no cluster secret/);
  });
});

describe('the cluster secret file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rdmq-secret-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is made once, mode 0600, and read back the same', () => {
    const file = path.join(dir, 'made', 'cluster-secret');
    const made = ensureClusterSecret(file);
    expect(made.length).toBe(32);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(ensureClusterSecret(file).equals(made)).toBe(true);
  });

  it('is refused when others may read it or when it is short', () => {
    const open = path.join(dir, 'open');
    fs.writeFileSync(open, randomBytes(32).toString('hex'), { mode: 0o644 });
    fs.chmodSync(open, 0o644);
    expect(() => readClusterSecret(open)).toThrow(/may be read by others.*chmod 600/);
    const short = path.join(dir, 'short');
    fs.writeFileSync(short, 'abc', { mode: 0o600 });
    expect(() => readClusterSecret(short)).toThrow(/needs at least 16/);
  });
});

describe('the listen policy', () => {
  const plan = { controlTls: false, clusterSecret: false, kafkaAuthenticated: false, allowInsecure: false };

  it('knows loopback', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) expect(isLoopbackHost(host)).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', 'broker-0']) expect(isLoopbackHost(host)).toBe(false);
  });

  it('lets loopback listen with nothing set up, and refuses off loopback until authenticated or told --allow-insecure', () => {
    expect(() => checkListenPlan({ ...plan, listeners: { control: '127.0.0.1:7400', kafka: '127.0.0.1:9092' } })).not.toThrow();
    expect(() => checkListenPlan({ ...plan, listeners: { control: '0.0.0.0:7400' } })).toThrow(/--control 0\.0\.0\.0:7400.*--allow-insecure/);
    expect(() => checkListenPlan({ ...plan, controlTls: true, clusterSecret: true, listeners: { control: '10.0.0.1:7400', kafka: '127.0.0.1:9092' } })).not.toThrow();
    expect(() => checkListenPlan({ ...plan, controlTls: true, clusterSecret: true, listeners: { kafka: '10.0.0.1:9092' } })).toThrow(/authenticated Kafka listener/);
    expect(() => checkListenPlan({ ...plan, controlTls: true, clusterSecret: true, kafkaAuthenticated: true, listeners: { kafka: '10.0.0.1:9092' } })).not.toThrow();
    expect(() => checkListenPlan({ ...plan, allowInsecure: true, listeners: { kafka: '0.0.0.0:9092' } })).not.toThrow();
  });
});
