// Identity on the Kafka door and the fast path, against `rdmq start` as
// users run it: several listeners (PLAINTEXT on loopback beside SASL_SSL and
// SASL_PLAINTEXT), TLS from PEM files made with openssl, SASL PLAIN and
// SCRAM-SHA-256/512 with users made by `rdmq users` or the Kafka API, real
// clients (kafkajs, kcat/librdkafka, the SDK).
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Kafka, logLevel, SASLOptions } from 'kafkajs';
import { ClusterProcess, startCluster, startRole } from '../bench/cluster';
import { saltedPassword } from '../format/sasl';
import { Rdmq } from '../rdma-client';
import { createUser, kcatSasl, makeCertificates, RawKafka, rdmq, TestCertificates, tlsFlags } from './testing/tls';

const KCAT = '/usr/bin/kcat';
const MAIN = path.join(__dirname, '..', 'cli', 'main.js');
const SASL_AUTHENTICATION_FAILED = 58;

function kcat(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(KCAT, ['-X', 'socket.timeout.ms=10000', ...args], { timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

function kafkaClient(broker: string, options: { sasl?: SASLOptions; ca?: string; cert?: string; key?: string }): Kafka {
  const ssl = options.ca
    ? { ca: [fs.readFileSync(options.ca)], ...(options.cert ? { cert: fs.readFileSync(options.cert), key: fs.readFileSync(options.key!) } : {}) }
    : undefined;
  return new Kafka({ clientId: 'security-test', brokers: [broker], ssl, sasl: options.sasl, logLevel: logLevel.NOTHING, retry: { retries: 2, initialRetryTime: 100 }, connectionTimeout: 5000 });
}

/** Produces `values` to `topic` and reads them back from the beginning. */
async function roundtrip(kafka: Kafka, topic: string, values: string[]): Promise<string[]> {
  const producer = kafka.producer();
  await producer.connect();
  try {
    await producer.send({ topic, messages: values.map((value) => ({ value })) });
  } finally {
    await producer.disconnect();
  }
  const consumer = kafka.consumer({ groupId: `${topic}-readers` });
  const got: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${got.length} of ${values.length}`)), 20_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          got.push(message.value!.toString());
          if (got.length === values.length) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return got;
}

describe('listeners, TLS and SASL on rdmq start', () => {
  let certs: TestCertificates;
  let cluster: ClusterProcess;
  let dataDir: string;
  let saslSsl: string;
  let saslPlain: string;
  let plaintext: string;

  const start = async () => {
    cluster = await startCluster({
      dataDir,
      regionSize: '256M',
      extraArgs: ['--listeners', 'PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0', ...tlsFlags(certs)],
    });
    saslSsl = `127.0.0.1:${cluster.kafkaPorts.SASL_SSL}`;
    saslPlain = `127.0.0.1:${cluster.kafkaPorts.SASL_PLAINTEXT}`;
    plaintext = `127.0.0.1:${cluster.kafkaPorts.PLAINTEXT}`;
  };

  beforeAll(async () => {
    certs = makeCertificates();
    dataDir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'rdmq-security-'));
    await start();
    await createUser(cluster, 'alice', 'alice-secret');
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    certs?.remove();
  });

  let failuresBefore = 0;
  beforeEach(() => {
    failuresBefore = cluster.failures().length;
  });
  afterEach(() => {
    expect(cluster.failures().slice(failuresBefore)).toEqual([]);
  });

  for (const mechanism of ['scram-sha-256', 'scram-sha-512'] as const) {
    it(`kafkajs produces and consumes over SASL_SSL with ${mechanism.toUpperCase()}`, async () => {
      const kafka = kafkaClient(saslSsl, { ca: certs.caCert, sasl: { mechanism, username: 'alice', password: 'alice-secret' } });
      const values = Array.from({ length: 20 }, (_, i) => `${mechanism}-${i}`);
      expect(await roundtrip(kafka, `kafkajs-${mechanism}`, values)).toEqual(values);
      expect(cluster.stderr()).toMatch(new RegExp(`SASL/${mechanism.toUpperCase()} authenticated User:alice .* on listener SASL_SSL`));
    });
  }

  it('kcat (librdkafka) produces and consumes over SASL_SSL with SCRAM-SHA-512, told the SASL_SSL address in Metadata', async () => {
    const auth = kcatSasl('SCRAM-SHA-512', 'alice', 'alice-secret', certs.caCert);
    const lines = Array.from({ length: 30 }, (_, i) => `kcat-${i}`);
    expect((await kcat(['-b', saslSsl, ...auth, '-P', '-t', 'kcat-scram'], lines.join('\n') + '\n')).code).toBe(0);
    const read = await kcat(['-b', saslSsl, ...auth, '-C', '-t', 'kcat-scram', '-o', 'beginning', '-e', '-f', '%s\n']);
    expect(read.stdout.trim().split('\n')).toEqual(lines);
    const meta = JSON.parse((await kcat(['-b', saslSsl, ...auth, '-L', '-J'])).stdout) as { brokers: { name: string }[] };
    expect(meta.brokers.map((b) => b.name)).toEqual([saslSsl]);
  });

  it('PLAIN over SASL_PLAINTEXT checks the password against the SCRAM store', async () => {
    const kafka = kafkaClient(saslPlain, { sasl: { mechanism: 'plain', username: 'alice', password: 'alice-secret' } });
    expect(await roundtrip(kafka, 'plain-topic', ['p1', 'p2'])).toEqual(['p1', 'p2']);
  });

  it('a wrong password is refused with SASL_AUTHENTICATION_FAILED (58), the connection closed and nothing written', async () => {
    for (const mechanism of ['PLAIN', 'SCRAM-SHA-256']) {
      const raw = await RawKafka.connect(saslPlain);
      expect((await raw.call<{ errorCode: number }>('SaslHandshake', 1, { mechanism })).errorCode).toBe(0);
      const first = mechanism === 'PLAIN' ? Buffer.from('\u0000alice\u0000wrong') : Buffer.from('n,,n=alice,r=abcdefgh');
      let answer = await raw.call<{ errorCode: number; errorMessage: string; authBytes: Buffer }>('SaslAuthenticate', 2, { authBytes: first });
      if (mechanism !== 'PLAIN') {
        expect(answer.errorCode).toBe(0);
        const nonce = /r=([^,]+)/.exec(answer.authBytes.toString())![1];
        answer = await raw.call('SaslAuthenticate', 2, { authBytes: Buffer.from(`c=biws,r=${nonce},p=${Buffer.alloc(32, 7).toString('base64')}`) });
      }
      expect(answer.errorCode).toBe(SASL_AUTHENTICATION_FAILED);
      expect(answer.errorMessage).toMatch(/invalid credentials/);
      await raw.closed;
    }
    // librdkafka as a user would see it: refused, and the topic it tried to write stays empty.
    const refused = await kcat(['-b', saslSsl, ...kcatSasl('SCRAM-SHA-512', 'alice', 'not-her-password', certs.caCert), '-P', '-t', 'never-written'], 'x\n');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/Authentication failed during authentication due to invalid credentials/);
    expect(cluster.stderr()).toMatch(/closing Kafka connection from .* \(User:ANONYMOUS, listener SASL_SSL\): SASL\/SCRAM-SHA-512 authentication failed/);
    const list = await rdmq(['topics', 'list', '--control', cluster.control]);
    expect(list.stdout).not.toMatch(/never-written/);
  });

  it('a SASL listener closes a connection that sends anything but ApiVersions and SASL before authenticating', async () => {
    const raw = await RawKafka.connect(saslPlain);
    expect((await raw.call<{ errorCode: number }>('ApiVersions', 3, { clientSoftwareName: 't', clientSoftwareVersion: '1' })).errorCode).toBe(0);
    await expect(raw.call('Metadata', 12, { topics: null, allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false })).rejects.toThrow(/closed/);
    expect(cluster.stderr()).toMatch(/Metadata before SASL authentication on listener SASL_PLAINTEXT \(User:ANONYMOUS\)/);
  });

  it('SaslHandshake names the mechanisms on a SASL listener (it answered 33, no mechanism, before) and stays 33 on PLAINTEXT', async () => {
    const sasl = await RawKafka.connect(saslPlain);
    expect(await sasl.call('SaslHandshake', 1, { mechanism: 'SCRAM-SHA-256' })).toEqual({ errorCode: 0, mechanisms: ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] });
    sasl.close();
    const open = await RawKafka.connect(plaintext);
    expect(await open.call('SaslHandshake', 1, { mechanism: 'PLAIN' })).toEqual({ errorCode: 33, mechanisms: [] });
    open.close();
  });

  it('a PLAINTEXT listener on loopback serves beside the SASL ones, telling its own address', async () => {
    const kafka = kafkaClient(plaintext, {});
    expect(await roundtrip(kafka, 'plaintext-topic', ['a'])).toEqual(['a']);
    const meta = JSON.parse((await kcat(['-b', plaintext, '-L', '-J'])).stdout) as { brokers: { name: string }[] };
    expect(meta.brokers.map((b) => b.name)).toEqual([plaintext]);
  });

  it('Describe/AlterUserScramCredentials (50, 51) create, describe and delete a user that then logs in, or no longer', async () => {
    const raw = await RawKafka.connect(plaintext);
    const versions = await raw.call<{ apiKeys: { apiKey: number }[] }>('ApiVersions', 3, { clientSoftwareName: 't', clientSoftwareVersion: '1' });
    expect(versions.apiKeys.map((k) => k.apiKey)).toEqual(expect.arrayContaining([50, 51]));
    const salt = Buffer.from('bob-salt-0123456789');
    const altered = await raw.call('AlterUserScramCredentials', 0, {
      deletions: [],
      upsertions: [{ name: 'bob', mechanism: 2, iterations: 4096, salt, saltedPassword: saltedPassword('SCRAM-SHA-512', 'bob-secret', salt, 4096) }],
    });
    expect(altered).toEqual({ throttleTimeMs: 0, results: [{ user: 'bob', errorCode: 0, errorMessage: null }] });
    const weak = await raw.call<{ results: { errorCode: number }[] }>('AlterUserScramCredentials', 0, {
      deletions: [],
      upsertions: [{ name: 'weak', mechanism: 1, iterations: 100, salt, saltedPassword: Buffer.alloc(32) }],
    });
    expect(weak.results[0].errorCode).toBe(93);
    const described = await raw.call<{ results: unknown[] }>('DescribeUserScramCredentials', 0, { users: [{ name: 'bob' }, { name: 'nobody' }] });
    expect(described.results).toEqual([
      { user: 'bob', errorCode: 0, errorMessage: null, credentialInfos: [{ mechanism: 2, iterations: 4096 }] },
      { user: 'nobody', errorCode: 91, errorMessage: expect.stringMatching(/does not exist/), credentialInfos: [] },
    ]);
    const asBob = kcatSasl('SCRAM-SHA-512', 'bob', 'bob-secret', certs.caCert);
    expect((await kcat(['-b', saslSsl, ...asBob, '-L'])).code).toBe(0);
    await raw.call('AlterUserScramCredentials', 0, { deletions: [{ name: 'bob', mechanism: 2 }], upsertions: [] });
    expect((await rdmq(['users', 'list', '--control', cluster.control, '--cluster-secret-file', cluster.clusterSecretFile])).stdout).not.toMatch(/^bob/m);
    expect((await kcat(['-b', saslSsl, ...asBob, '-L'])).code).not.toBe(0);
    raw.close();
  });

  it('the SDK authenticates over the fast path with SCRAM and PLAIN, and a wrong password is refused', async () => {
    for (const mechanism of ['scram-sha-256', 'plain'] as const) {
      expect((await rdmq(['topics', 'create', `sdk-${mechanism}`, '--control', cluster.control])).code).toBe(0);
      const producer = new Rdmq({ control: cluster.control, sasl: { mechanism, username: 'alice', password: 'alice-secret' } }).producer();
      await producer.connect();
      await producer.send({ topic: `sdk-${mechanism}`, messages: [{ value: 'from the sdk' }] });
      await producer.disconnect();
    }
    expect(cluster.stderr()).toMatch(/fast-path session from an SDK client authenticated as User:alice \(SCRAM-SHA-256\)/);
    const wrong = new Rdmq({ control: cluster.control, sasl: { mechanism: 'scram-sha-512', username: 'alice', password: 'nope' } }).producer();
    await expect(wrong.connect()).rejects.toMatchObject({ type: 'SASL_AUTHENTICATION_FAILED', errorCode: 58, retriable: false });
    const produced = await rdmq(['produce', 'sdk-cli', '--control', cluster.control, '--user', 'alice', '--password', 'wrong', '--mechanism', 'SCRAM-SHA-256'], 'x\n');
    expect(produced.code).not.toBe(0);
    expect(produced.stderr).toMatch(/authentication of alice \(SCRAM-SHA-256\) failed/);
  });

  it('rdmq gateway checks logins with credentials fetched from the broker, and tells each listener\'s addresses', async () => {
    const gateway = await startRole<{ kafkaPorts: Record<string, number> }>([
      MAIN, 'gateway', '--control', cluster.control, '--metrics', '127.0.0.1:0', '--listeners', 'SASL_PLAINTEXT://127.0.0.1:0', '--cluster-secret-file', cluster.clusterSecretFile,
    ]);
    try {
      const remote = `127.0.0.1:${gateway.ready.kafkaPorts.SASL_PLAINTEXT}`;
      const auth = kcatSasl('SCRAM-SHA-256', 'alice', 'alice-secret');
      expect((await kcat(['-b', remote, ...auth, '-P', '-t', 'via-gateway', '-p', '0'], 'g1\ng2\n')).code).toBe(0);
      const read = await kcat(['-b', remote, ...auth, '-C', '-t', 'via-gateway', '-o', 'beginning', '-e', '-f', '%s\n']);
      expect(read.stdout.trim().split('\n')).toEqual(['g1', 'g2']);
      const meta = JSON.parse((await kcat(['-b', remote, ...auth, '-L', '-J'])).stdout) as { brokers: { name: string }[] };
      expect(meta.brokers.map((b) => b.name).sort()).toEqual([saslPlain, remote].sort());
      const refused = await kcat(['-b', remote, ...kcatSasl('PLAIN', 'alice', 'wrong'), '-L']);
      expect(refused.stderr).toMatch(/invalid credentials with SASL mechanism PLAIN/);
      expect(gateway.stderr()).toMatch(/closing Kafka connection from .* \(User:ANONYMOUS, listener SASL_PLAINTEXT\): SASL\/PLAIN authentication failed/);
    } finally {
      await gateway.signal('SIGTERM');
    }
  });

  it('users survive a broker restart: the same password still logs in, over Kafka and `rdmq users list`', async () => {
    await cluster.stop({ keepData: true });
    await start();
    expect((await rdmq(['users', 'list', '--control', cluster.control, '--cluster-secret-file', cluster.clusterSecretFile])).stdout).toMatch(/^alice\tSCRAM-SHA-256 \(iterations 8192\), SCRAM-SHA-512/m);
    const read = await kcat(['-b', saslSsl, ...kcatSasl('SCRAM-SHA-256', 'alice', 'alice-secret', certs.caCert), '-C', '-t', 'kcat-scram', '-o', 'beginning', '-e', '-f', '%s\n']);
    expect(read.stdout.trim().split('\n')).toHaveLength(30);
  });
});

describe('mutual TLS and --require-authentication', () => {
  let certs: TestCertificates;
  let cluster: ClusterProcess;
  let ssl: string;

  beforeAll(async () => {
    certs = makeCertificates('carol');
    cluster = await startCluster({
      regionSize: '256M',
      extraArgs: ['--listeners', 'SSL://127.0.0.1:0', ...tlsFlags(certs, 'required'), '--require-authentication'],
    });
    ssl = `127.0.0.1:${cluster.kafkaPorts.SSL}`;
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
    certs?.remove();
  });

  it('a client without a certificate is refused; one with a certificate of the CA produces and consumes', async () => {
    const anonymous = kafkaClient(ssl, { ca: certs.caCert });
    const admin = anonymous.admin();
    await expect(admin.connect().then(() => admin.listTopics())).rejects.toThrow();
    await admin.disconnect();
    expect(cluster.stderr()).toMatch(/TLS handshake from .* on listener SSL failed/);
    const carol = kafkaClient(ssl, { ca: certs.caCert, cert: certs.clientCert, key: certs.clientKey });
    expect(await roundtrip(carol, 'mtls-topic', ['m1', 'm2'])).toEqual(['m1', 'm2']);
  });

  it('a verified client certificate makes the connection User:<CN>, as the gateway logs it', async () => {
    const tlsOptions = { ca: fs.readFileSync(certs.caCert), cert: fs.readFileSync(certs.clientCert), key: fs.readFileSync(certs.clientKey), servername: 'localhost' };
    const raw = await RawKafka.connect(ssl, tlsOptions);
    const answer = await raw.call<{ errorCode: number }>('SaslAuthenticate', 2, { authBytes: Buffer.from('x') });
    expect(answer.errorCode).toBe(34);
    await raw.closed;
    expect(cluster.stderr()).toMatch(/closing Kafka connection from .* \(User:carol, listener SSL\): SASL is not enabled on listener SSL/);
  });

  it('refuses an SDK client that does not authenticate, with a clear error, and serves one that does', async () => {
    const anonymous = new Rdmq({ control: cluster.control }).producer();
    await expect(anonymous.connect()).rejects.toThrow(/requires authentication/);
    await createUser(cluster, 'dave', 'dave-secret', ['--mechanism', 'SCRAM-SHA-512']);
    const dave = new Rdmq({ control: cluster.control, sasl: { mechanism: 'scram-sha-512', username: 'dave', password: 'dave-secret' } }).producer();
    await dave.connect();
    await dave.send({ topic: 'mtls-topic', messages: [{ value: 'from dave' }] });
    await dave.disconnect();
  });

  it('refuses to start with a listener that lets clients in unauthenticated, or a certificate that cannot be read', async () => {
    const open = await rdmq(['start', '--data', '/nonexistent-rdmq', '--listeners', 'PLAINTEXT://127.0.0.1:0', '--require-authentication']);
    expect(open.code).not.toBe(0);
    expect(open.stderr).toMatch(/--require-authentication: listener PLAINTEXT \(PLAINTEXT\) lets clients in without authenticating/);
    const missing = await rdmq(['start', '--data', '/nonexistent-rdmq', '--listeners', 'SASL_SSL://127.0.0.1:0', '--tls-cert', '/nonexistent/cert.pem', '--tls-key', certs.serverKey]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/cannot read --tls-cert \/nonexistent\/cert.pem: ENOENT/);
    const gateway = await rdmq(['gateway', '--control', cluster.control, '--listeners', 'SSL://127.0.0.1:0', '--tls-cert', certs.serverCert, '--tls-key', certs.caCert]);
    expect(gateway.code).not.toBe(0);
    expect(gateway.stderr).toMatch(/--tls-cert\/--tls-key\/--tls-ca:/);
  });
});
