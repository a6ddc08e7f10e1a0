// The control plane tried again as the stranger of issue 12 would: a local
// process with the .proto files and a gRPC library (and, where TLS is on,
// the public CA certificate) but not the cluster's secret. Every call that
// harmed before is refused, and what it aimed at is unchanged. Plus: every
// listener (UCX's own included) binds only where told, an unauthenticated
// bind off loopback is refused, and the roles run apart over TLS.
import { execFileSync } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import { Kafka, logLevel } from 'kafkajs';
import { ClusterProcess, RunningRole, startCluster, startRole } from '../bench/cluster';
import { configureControlPlane, readClusterSecret } from '../control-plane';
import { Connection } from '../rdma-client';
import { callOnce, deleteTopicsFrame, listeningAddresses, makeCertificates, PROTO, strangerClient } from './testing/stranger';

const MAIN = path.join(__dirname, 'main.js');
const HUB = 'rdmq.gateway.v1.GatewayHub';
const STORAGE = 'rdmq.storage.v1.StorageNode';
const BROKER = 'rdmq.broker.v1.Broker';

const kafkaOf = (brokers: string): Kafka => new Kafka({ clientId: 'control-plane-test', brokers: [brokers], logLevel: logLevel.NOTHING });

async function produce(brokers: string, topic: string, values: string[]): Promise<void> {
  const producer = kafkaOf(brokers).producer();
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages: values.map((value) => ({ value })) });
  } finally {
    await producer.disconnect();
  }
}

async function consumeAll(brokers: string, topic: string, count: number): Promise<string[]> {
  const consumer = kafkaOf(brokers).consumer({ groupId: `g-${randomBytes(4).toString('hex')}` });
  await consumer.connect();
  const seen: string[] = [];
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${seen.length} of ${count} records of ${topic}`)), 30_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          seen.push(message.value!.toString());
          if (seen.length >= count) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

async function metadataOf(brokers: string, topic: string): Promise<{ brokers: string[]; leaders: number[] }> {
  const admin = kafkaOf(brokers).admin();
  await admin.connect();
  try {
    const cluster = await admin.describeCluster();
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    return {
      brokers: cluster.brokers.map((b) => `${b.nodeId}@${b.host}:${b.port}`).sort(),
      leaders: meta.topics[0].partitions.sort((a, b) => a.partitionId - b.partitionId).map((p) => p.leader),
    };
  } finally {
    await admin.disconnect();
  }
}

function joinOnce(client: grpc.Client, node: { nodeId: number; host: string; port: number }): Promise<{ error?: grpc.ServiceError; nodeId?: number }> {
  return new Promise((resolve) => {
    const stream = (client as unknown as { join(r: object): grpc.ClientReadableStream<{ nodeId: number }> }).join({ node: { ...node, rack: '' } });
    stream.once('data', (m: { nodeId: number }) => {
      stream.cancel();
      resolve({ nodeId: m.nodeId });
    });
    stream.on('error', (error: grpc.ServiceError) => resolve({ error }));
  });
}

async function eventually(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${condition.toString()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** This host's first address off loopback, for binding tests. */
function outsideAddress(): string | undefined {
  return Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
}

async function refusedAtStart(args: string[]): Promise<string> {
  try {
    const role = await startRole<object>([MAIN, ...args]);
    await role.signal('SIGKILL');
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`rdmq ${args[0]} started with ${args.join(' ')}`);
}

describe('rdmq start: the control plane refuses a stranger', () => {
  let cluster: ClusterProcess;

  beforeAll(async () => {
    cluster = await startCluster({ regionSize: '256M' });
    const admin = kafkaOf(cluster.kafka).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'victim', numPartitions: 2 }] });
    await admin.disconnect();
    await produce(cluster.kafka, 'victim', ['a', 'b', 'c']);
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('keeps its secret beside its data, readable by its owner only', () => {
    expect(fs.statSync(cluster.clusterSecretFile).mode & 0o777).toBe(0o600);
  });

  it('a stranger cannot join as a gateway, and Metadata still sends clients to the real ones', async () => {
    const before = await metadataOf(cluster.kafka, 'victim');
    const anonymous = strangerClient(PROTO.gateway, HUB, cluster.control);
    const guessing = strangerClient(PROTO.gateway, HUB, cluster.control, { secret: randomBytes(32) });
    try {
      for (const client of [anonymous, guessing]) {
        for (const nodeId of [-1, 0, 7]) {
          const { error } = await joinOnce(client, { nodeId, host: '127.0.0.1', port: 1 });
          expect(error?.code).toBe(grpc.status.UNAUTHENTICATED);
          expect(error?.details).toMatch(/members of the cluster only/);
        }
      }
    } finally {
      anonymous.close();
      guessing.close();
    }
    expect(await metadataOf(cluster.kafka, 'victim')).toEqual(before);
    expect(cluster.stderr()).toMatch(/refused \/rdmq.gateway.v1.GatewayHub\/Join/);
  });

  it('a member registers only itself: not at another host, not at a live gateway\'s address', async () => {
    const member = strangerClient(PROTO.gateway, HUB, cluster.control, { secret: readClusterSecret(cluster.clusterSecretFile) });
    try {
      const elsewhere = await joinOnce(member, { nodeId: -1, host: '198.51.100.7', port: 9092 });
      expect(elsewhere.error?.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(elsewhere.error?.details).toMatch(/not the address this Join came from/);
      const [, port] = cluster.kafka.split(':');
      const taken = await joinOnce(member, { nodeId: -1, host: '127.0.0.1', port: Number(port) });
      expect(taken.error?.details).toMatch(/a live gateway is registered at/);
    } finally {
      member.close();
    }
  });

  it('Forward from a stranger is refused and the topic it tried to delete is still there', async () => {
    const stranger = strangerClient(PROTO.gateway, HUB, cluster.control);
    try {
      const { error } = await callOnce(stranger, 'forward', { frame: deleteTopicsFrame('victim'), clientHost: '127.0.0.1' });
      expect(error?.code).toBe(grpc.status.UNAUTHENTICATED);
    } finally {
      stranger.close();
    }
    expect((await consumeAll(cluster.kafka, 'victim', 3)).sort()).toEqual(['a', 'b', 'c']);
  });

  it('the CLI of an operator with the secret file works', () => {
    const out = execFileSync(process.execPath, [MAIN, 'topics', 'list', '--control', cluster.control, '--cluster-secret-file', cluster.clusterSecretFile], { encoding: 'utf8' });
    expect(out.split('\n')).toContain('victim');
  });

  it('its own gateway proves membership on the fast path; a client with another secret stays a stranger there', async () => {
    expect(cluster.stderr()).not.toMatch(/is not a cluster member/);
    configureControlPlane({ clusterSecret: randomBytes(32) });
    try {
      const connection = await Connection.open({ control: cluster.control });
      await connection.close();
    } finally {
      configureControlPlane({});
    }
    await eventually(() => /fast-path client .* is not a cluster member: the cluster proof does not match/.test(cluster.stderr()));
  });

  it('listens only on 127.0.0.1, UCX\'s own listeners included', () => {
    const addresses = listeningAddresses(cluster.child.pid!);
    expect(addresses.length).toBeGreaterThanOrEqual(4);
    for (const address of addresses) expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
  });
});

describe('listeners off loopback', () => {
  const outside = outsideAddress();
  const dirs: string[] = [];
  const dataDir = (): string => {
    const dir = fs.mkdtempSync(path.join('/dev/shm', 'rdmq-ctrl-bind-'));
    dirs.push(dir);
    return dir;
  };

  afterAll(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('an unauthenticated bind off loopback is refused at start with what to add', async () => {
    const start = await refusedAtStart(['start', '--data', dataDir(), '--region-size', '64M', '--segment-size', '1M', '--kafka', '0.0.0.0:0', '--control', '127.0.0.1:0', '--fastpath', '127.0.0.1:0', '--metrics', '127.0.0.1:0']);
    expect(start).toMatch(/refusing to listen off loopback \(--kafka 0\.0\.0\.0:0\) without .*--control-tls-cert.*an authenticated Kafka listener.*--allow-insecure/);
    const gateway = await refusedAtStart(['gateway', '--control', '127.0.0.1:1', '--kafka', '0.0.0.0:0', '--metrics', '127.0.0.1:0']);
    expect(gateway).toMatch(/refusing to listen off loopback/);
    const storage = await refusedAtStart(['storage', '--data', dataDir(), '--region-size', '64M', '--segment-size', '1M', '--control', '0.0.0.0:0', '--fastpath', '127.0.0.1:0', '--metrics', '127.0.0.1:0']);
    expect(storage).toMatch(/refusing to listen off loopback \(--control 0\.0\.0\.0:0\)/);
    // A TLS control plane and the secret are not enough while one Kafka listener off loopback lets anyone in.
    const secret = path.join(dataDir(), 'secret');
    fs.writeFileSync(secret, randomBytes(32).toString('hex'), { mode: 0o600 });
    const plaintextOutside = await refusedAtStart([
      'gateway', '--control', '127.0.0.1:1', '--listeners', 'SASL_PLAINTEXT://127.0.0.1:0,PLAINTEXT://0.0.0.0:0', '--metrics', '127.0.0.1:0',
      '--cluster-secret-file', secret, '--control-tls-ca', secret,
    ]);
    expect(plaintextOutside).toMatch(/refusing to listen off loopback \(--kafka listener PLAINTEXT 0\.0\.0\.0:0\) without an authenticated Kafka listener/);
  });

  (outside ? it : it.skip)('with --allow-insecure on this host\'s outside address, every listener (UCX\'s too) is on that address only', async () => {
    const role = await startRole<{ controlPort: number; kafkaPort: number }>([
      MAIN, 'start', '--data', dataDir(), '--region-size', '64M', '--segment-size', '1M', '--allow-insecure',
      '--control', `${outside}:0`, '--fastpath', `${outside}:0`, '--kafka', `${outside}:0`, '--metrics', `${outside}:0`,
    ]);
    try {
      const addresses = listeningAddresses(role.child.pid!);
      expect(addresses.length).toBeGreaterThanOrEqual(4);
      for (const address of addresses) expect(address.slice(0, address.lastIndexOf(':'))).toBe(outside);
      // ...and the fast path still works there: a Kafka produce goes through stage, put and commit.
      await produce(`${outside}:${role.ready.kafkaPort}`, 'outside', ['x']);
      expect(await consumeAll(`${outside}:${role.ready.kafkaPort}`, 'outside', 1)).toEqual(['x']);
    } finally {
      await role.signal('SIGTERM');
    }
  });
});

describe('roles apart with a TLS control plane and the cluster secret', () => {
  let dir: string;
  let storage: RunningRole<{ controlPort: number }>;
  let broker: RunningRole<{ controlPort: number; kafkaPort: number }>;
  let gateway: RunningRole<{ kafkaPort: number }>;
  let certs: ReturnType<typeof makeCertificates>;
  let secretFile: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join('/dev/shm', 'rdmq-ctrl-tls-'));
    certs = makeCertificates(path.join(dir, 'pki'));
    secretFile = path.join(dir, 'cluster-secret');
    fs.writeFileSync(secretFile, randomBytes(32).toString('hex'), { mode: 0o600 });
    const member = ['--cluster-secret-file', secretFile, '--control-tls-ca', certs.caFile];
    const serving = [...member, '--control-tls-cert', certs.certFile, '--control-tls-key', certs.keyFile];
    storage = await startRole([MAIN, 'storage', '--data', path.join(dir, 'storage'), '--control', '127.0.0.1:0', '--fastpath', '127.0.0.1:0', '--metrics', '127.0.0.1:0', '--region-size', '128M', '--segment-size', '1M', ...serving]);
    broker = await startRole([
      MAIN, 'broker', '--storage', `127.0.0.1:${storage.ready.controlPort}`, '--data', path.join(dir, 'broker'), '--control', '127.0.0.1:0',
      '--fastpath', '127.0.0.1:0', '--kafka', '127.0.0.1:0', '--metrics', '127.0.0.1:0', '--segment-size', '1M', ...serving,
    ]);
    gateway = await startRole([MAIN, 'gateway', '--control', `127.0.0.1:${broker.ready.controlPort}`, '--kafka', '127.0.0.1:0', '--metrics', '127.0.0.1:0', ...member]);
    const admin = kafkaOf(`127.0.0.1:${broker.ready.kafkaPort}`).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'kept', numPartitions: 1 }] });
    await admin.disconnect();
  });

  afterAll(async () => {
    await gateway?.signal('SIGTERM');
    await broker?.signal('SIGTERM');
    await storage?.signal('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a kafkajs producer and consumer go through the gateway of its own', async () => {
    const values = Array.from({ length: 20 }, (_, i) => `tls-${i}`);
    await produce(`127.0.0.1:${gateway.ready.kafkaPort}`, 'kept', values);
    expect((await consumeAll(`127.0.0.1:${gateway.ready.kafkaPort}`, 'kept', values.length)).sort()).toEqual([...values].sort());
  });

  it('a client with the wrong CA, or without TLS, is refused', async () => {
    const other = makeCertificates(path.join(dir, 'other-pki'), 'other');
    const address = `127.0.0.1:${broker.ready.controlPort}`;
    for (const client of [strangerClient(PROTO.broker, BROKER, address, { ca: other.ca }), strangerClient(PROTO.broker, BROKER, address)]) {
      const { error } = await callOnce(client, 'getClusterInfo', {}, 5000);
      client.close();
      expect(error?.code).toBe(grpc.status.UNAVAILABLE);
    }
    const trusting = strangerClient(PROTO.broker, BROKER, address, { ca: certs.ca });
    const { error } = await callOnce(trusting, 'getClusterInfo', {});
    trusting.close();
    expect(error).toBeUndefined();
  });

  it('the storage node serves the broker only: Describe, SegmentKey, ReadData and Free from a stranger are refused, and the data stays readable', async () => {
    const values = ['s-1', 's-2', 's-3'];
    await produce(`127.0.0.1:${broker.ready.kafkaPort}`, 'kept', values);
    const address = `127.0.0.1:${storage.ready.controlPort}`;
    for (const secret of [undefined, randomBytes(32)]) {
      const stranger = strangerClient(PROTO.storage, STORAGE, address, { ca: certs.ca, secret });
      try {
        const describe = await callOnce(stranger, 'describe', {});
        expect(describe.error?.code).toBe(grpc.status.UNAUTHENTICATED);
        expect(describe.answer).toBeUndefined();
        for (let segmentId = 0; segmentId < 8; segmentId++) {
          for (const [method, request] of [
            ['segmentKey', { segmentId: String(segmentId), readOnly: false }],
            ['readData', { segmentId: String(segmentId), position: 0, lengthBytes: 64 }],
            ['free', { segmentId: String(segmentId) }],
          ] as const) {
            const { error } = await callOnce(stranger, method, request);
            expect(error?.code).toBe(grpc.status.UNAUTHENTICATED);
          }
        }
      } finally {
        stranger.close();
      }
    }
    expect(storage.stderr()).toMatch(/refused \/rdmq.storage.v1.StorageNode\/Free/);
    const read = await consumeAll(`127.0.0.1:${broker.ready.kafkaPort}`, 'kept', 23);
    for (const v of values) expect(read).toContain(v);
  });

  it('a stranger who trusts the CA still cannot join as a gateway', async () => {
    const stranger = strangerClient(PROTO.gateway, HUB, `127.0.0.1:${broker.ready.controlPort}`, { ca: certs.ca });
    const { error } = await joinOnce(stranger, { nodeId: -1, host: '127.0.0.1', port: 1 });
    stranger.close();
    expect(error?.code).toBe(grpc.status.UNAUTHENTICATED);
  });
});
