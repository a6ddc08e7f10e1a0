// ACLs on both doors, against `rdmq start` as users run it: kafkajs (admin
// ACL calls, produce, fetch, groups, topic admin), kcat (librdkafka) and the
// fast-path SDK. Until SASL lands every client here is User:ANONYMOUS, so the
// ACLs name it; the authorizer's input (principal, host) is explicit, and a
// named user is one more principal in these calls.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  Kafka,
  logLevel,
  ResourcePatternTypes,
} from 'kafkajs';
import { ClusterProcess, startCluster } from '../bench/cluster';
import { AuthorizationError, Rdmq } from '../rdma-client';
import { buildRecordBatch } from '../format';
import { RawKafkaClient } from '../gateway/testing/raw-client';
import { RemoteGatewayProcess, startRemoteGatewayProcess } from '../gateway/testing/remote-gateway';
import { createUser } from './testing/tls';

const MAIN = path.join(__dirname, '..', 'cli', 'main.js');
const KCAT = '/usr/bin/kcat';
const ANONYMOUS = 'User:ANONYMOUS';

function run(command: string, args: string[], input?: string, timeoutMs = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(command, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

async function rdmq(cluster: ClusterProcess, args: string[]): Promise<string> {
  // The operator's CLI proves the secret of this rdmq start: it manages ACLs and topics as a member of the cluster.
  const result = await run(process.execPath, [MAIN, ...args, '--control', cluster.control, '--cluster-secret-file', cluster.clusterSecretFile], undefined, 60_000);
  if (result.code !== 0) throw new Error(`rdmq ${args.join(' ')} failed (${result.code}): ${result.stderr}${result.stdout}`);
  return result.stdout;
}

function kafkaOf(cluster: ClusterProcess): Kafka {
  return new Kafka({ clientId: 'acl-test', brokers: [cluster.kafka], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
}

/** The Kafka error type a kafkajs call failed with (its own or its cause's). */
async function kafkaErrorOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    const e = err as { type?: string; originalError?: { type?: string }; cause?: { type?: string }; errors?: { type?: string }[] };
    return e.type ?? e.originalError?.type ?? e.cause?.type ?? e.errors?.[0]?.type ?? String(err);
  }
  return 'NONE';
}

async function produceOne(kafka: Kafka, topic: string, value: string): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    await producer.send({ topic, messages: [{ value }] });
  } finally {
    await producer.disconnect();
  }
}

/** Reads `count` values of `topic` as a member of `groupId`, committing them. */
async function consumeAsGroup(kafka: Kafka, topic: string, groupId: string, count: number): Promise<string[]> {
  const consumer = kafka.consumer({ groupId, retry: { retries: 0 }, sessionTimeout: 10_000, heartbeatInterval: 500 });
  await consumer.connect();
  const values: string[] = [];
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const crashed = new Promise<never>((_, reject) => consumer.on(consumer.events.CRASH, (e) => reject(e.payload.error)));
    await Promise.race([
      crashed,
      new Promise<void>((resolve) => {
        void consumer.run({
          autoCommit: true,
          eachMessage: async ({ message }) => {
            values.push(message.value!.toString());
            if (values.length >= count) resolve();
          },
        });
      }),
    ]);
  } finally {
    await consumer.disconnect();
  }
  return values;
}

describe('ACLs with allow.everyone.if.no.acl.found on (the default of `rdmq start`)', () => {
  let cluster: ClusterProcess;
  beforeAll(async () => {
    cluster = await startCluster({ regionSize: '256M', segmentSize: '4M' });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('kafkajs creates, describes and deletes ACLs; a DENY on a topic refuses produce and fetch with TOPIC_AUTHORIZATION_FAILED while other topics stay open', async () => {
    const kafka = kafkaOf(cluster);
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic: 'open' }, { topic: 'locked' }] });
      await produceOne(kafka, 'locked', 'before');
      const deny = {
        resourceType: AclResourceTypes.TOPIC,
        resourceName: 'locked',
        resourcePatternType: ResourcePatternTypes.LITERAL,
        principal: ANONYMOUS,
        host: '*',
        operation: AclOperationTypes.WRITE,
        permissionType: AclPermissionTypes.DENY,
      };
      await admin.createAcls({ acl: [deny] });
      const described = await admin.describeAcls({
        resourceType: AclResourceTypes.ANY,
        resourcePatternType: ResourcePatternTypes.ANY,
        operation: AclOperationTypes.ANY,
        permissionType: AclPermissionTypes.ANY,
      });
      expect(described.resources).toEqual([
        { resourceType: AclResourceTypes.TOPIC, resourceName: 'locked', resourcePatternType: ResourcePatternTypes.LITERAL, acls: [{ principal: ANONYMOUS, host: '*', operation: AclOperationTypes.WRITE, permissionType: AclPermissionTypes.DENY }] },
      ]);

      // DENY wins; and now that 'locked' has an ACL, nothing not allowed there is (READ included).
      expect(await kafkaErrorOf(produceOne(kafka, 'locked', 'refused'))).toBe('TOPIC_AUTHORIZATION_FAILED');
      await produceOne(kafka, 'open', 'fine');
      const metadata = await admin.fetchTopicMetadata();
      expect(metadata.topics.map((t) => t.name).sort()).toEqual(['open']);
      const fetch = await run(KCAT, ['-b', cluster.kafka, '-C', '-t', 'locked', '-p', '0', '-o', 'beginning', '-e', '-X', 'topic.metadata.refresh.interval.ms=100']);
      expect(fetch.stderr).toMatch(/Topic authorization failed/i);

      const deleted = await admin.deleteAcls({ filters: [{ ...deny, resourceName: 'locked', permissionType: AclPermissionTypes.ANY, operation: AclOperationTypes.ANY }] });
      expect(deleted.filterResponses[0].matchingAcls).toHaveLength(1);
      await produceOne(kafka, 'locked', 'after');
      expect(await consumeAsGroup(kafka, 'locked', 'reader', 2)).toEqual(['before', 'after']);
    } finally {
      await admin.disconnect();
    }
    expect(cluster.failures()).toEqual([]);
  });

  it('once the cluster has an ACL, an anonymous client no longer creates or deletes topics nor changes ACLs (the issue\'s "anyone creates and deletes topics")', async () => {
    const kafka = kafkaOf(cluster);
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic: 'doomed' }] });
      await rdmq(cluster, ['acls', 'add', '--allow-principal', 'User:admin', '--operation', 'all', '--cluster']);
      // With allow.everyone.if.no.acl.found on, a topic without ACLs is open: the operator closes every topic with one on '*'.
      await rdmq(cluster, ['acls', 'add', '--allow-principal', 'User:admin', '--operation', 'all', '--topic', '*']);
      expect(await kafkaErrorOf(admin.createTopics({ topics: [{ topic: 'sneaky' }] }))).toBe('TOPIC_AUTHORIZATION_FAILED');
      expect(await kafkaErrorOf(admin.deleteTopics({ topics: ['doomed'] }))).toBe('TOPIC_AUTHORIZATION_FAILED');
      const acl = {
        resourceType: AclResourceTypes.TOPIC,
        resourceName: 'doomed',
        resourcePatternType: ResourcePatternTypes.LITERAL,
        principal: ANONYMOUS,
        host: '*',
        operation: AclOperationTypes.ALL,
        permissionType: AclPermissionTypes.ALLOW,
      };
      expect(await kafkaErrorOf(admin.createAcls({ acl: [acl] }))).toBe('CLUSTER_AUTHORIZATION_FAILED');
      // librdkafka gets the same answer.
      const created = await run(KCAT, ['-b', cluster.kafka, '-P', '-t', 'sneaky-too'], 'x\n');
      expect(created.stderr).toMatch(/authorization failed/i);
      expect((await rdmq(cluster, ['topics', 'list'])).split('\n')).toEqual(expect.arrayContaining(['doomed']));
      expect(await rdmq(cluster, ['topics', 'list'])).not.toMatch(/sneaky/);
      // The operator lifts it: the CLI speaks for the cluster.
      const removed = await rdmq(cluster, ['acls', 'remove', '--cluster']);
      expect(removed).toMatch(/principal=User:admin, host=\*, operation=ALL, permissionType=ALLOW/);
      await rdmq(cluster, ['acls', 'remove', '--topic', '*']);
      await admin.deleteTopics({ topics: ['doomed'] });
    } finally {
      await admin.disconnect();
    }
  });
});

describe('ACLs with allow.everyone.if.no.acl.found off: only what an ACL allows', () => {
  let cluster: ClusterProcess;
  beforeAll(async () => {
    cluster = await startCluster({ regionSize: '256M', segmentSize: '4M', extraArgs: ['--allow-everyone-if-no-acl-found', 'false'] });
    await rdmq(cluster, ['topics', 'create', 'orders', '--partitions', '2']);
    await rdmq(cluster, ['topics', 'create', 'logs-app']);
    await rdmq(cluster, ['topics', 'create', 'logs-secret']);
    await rdmq(cluster, ['topics', 'create', 'fast']);
  });
  afterAll(async () => {
    const dataDir = cluster?.dataDir;
    await cluster?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('Metadata lists only what the principal may describe; produce, group join and commit are refused until `rdmq acls add` allows each, with Kafka\'s error codes', async () => {
    const kafka = kafkaOf(cluster);
    const admin = kafka.admin();
    await admin.connect();
    try {
      expect((await admin.fetchTopicMetadata()).topics).toEqual([]);
      const listed = await run(KCAT, ['-b', cluster.kafka, '-L', '-J']);
      expect((JSON.parse(listed.stdout) as { topics: unknown[] }).topics).toEqual([]);
      expect(await kafkaErrorOf(produceOne(kafka, 'orders', 'no'))).toBe('TOPIC_AUTHORIZATION_FAILED');

      await rdmq(cluster, ['acls', 'add', '--allow-principal', ANONYMOUS, '--operation', 'write', '--topic', 'orders']);
      expect((await admin.fetchTopicMetadata()).topics.map((t) => t.name)).toEqual(['orders']); // WRITE implies DESCRIBE
      await produceOne(kafka, 'orders', 'one');
      await produceOne(kafka, 'orders', 'two');
      const kcatProduced = await run(KCAT, ['-b', cluster.kafka, '-P', '-t', 'orders', '-p', '0'], 'three\n');
      expect(kcatProduced.code).toBe(0);

      // Reading needs READ on the group, then READ on the topic.
      // kafkajs reports a refused FindCoordinator as a coordinator it cannot find (as against Kafka); librdkafka names the code.
      expect(await kafkaErrorOf(consumeAsGroup(kafka, 'orders', 'billing', 3))).toMatch(/GroupCoordinatorNotFound/);
      const kcatGroup = await run(KCAT, ['-b', cluster.kafka, '-G', 'billing', '-X', 'auto.offset.reset=earliest', '-e', 'orders'], undefined, 8000);
      expect(kcatGroup.stderr).toMatch(/FindCoordinator response error: User:ANONYMOUS is not authorized to DESCRIBE group 'billing'/);
      await rdmq(cluster, ['acls', 'add', '--allow-principal', ANONYMOUS, '--operation', 'read', '--group', 'billing']);
      const kcatRead = await run(KCAT, ['-b', cluster.kafka, '-C', '-t', 'orders', '-p', '0', '-o', 'beginning', '-e']);
      expect(kcatRead.stderr).toMatch(/Topic authorization failed/i);
      await rdmq(cluster, ['acls', 'add', '--allow-principal', ANONYMOUS, '--operation', 'read', '--topic', 'orders']);
      expect((await consumeAsGroup(kafka, 'orders', 'billing', 3)).sort()).toEqual(['one', 'three', 'two']);
      const committed = await admin.fetchOffsets({ groupId: 'billing', topics: ['orders'] });
      // Each partition's committed offset is its end (-1: nothing was written there to commit).
      expect(committed[0].partitions.reduce((n, p) => n + Math.max(Number(p.offset), 0), 0)).toBe(3);

      expect(await rdmq(cluster, ['acls', 'list', '--topic', 'orders'])).toMatch(/principal=User:ANONYMOUS, host=\*, operation=READ, permissionType=ALLOW/);
    } finally {
      await admin.disconnect();
    }
    expect(cluster.failures()).toEqual([]);
  });

  it('a PREFIXED allow covers every topic it starts, and a DENY on one of them still wins', async () => {
    const kafka = kafkaOf(cluster);
    await rdmq(cluster, ['acls', 'add', '--allow-principal', ANONYMOUS, '--operation', 'all', '--topic', 'logs-', '--resource-pattern-type', 'prefixed']);
    await rdmq(cluster, ['acls', 'add', '--deny-principal', ANONYMOUS, '--operation', 'write', '--topic', 'logs-secret']);
    await produceOne(kafka, 'logs-app', 'line');
    expect(await kafkaErrorOf(produceOne(kafka, 'logs-secret', 'leak'))).toBe('TOPIC_AUTHORIZATION_FAILED');
    const kcatSecret = await run(KCAT, ['-b', cluster.kafka, '-P', '-t', 'logs-secret'], 'leak\n');
    expect(kcatSecret.stderr).toMatch(/Topic authorization failed/i);
  });

  it('the SDK producer and consumer get an AuthorizationError naming the topic and operation, and work once `rdmq acls add` allows them; the ACLs survive a restart', async () => {
    const rdmqClient = new Rdmq({ control: cluster.control });
    const producer = rdmqClient.producer();
    await producer.connect();
    try {
      const refused = await producer.send({ topic: 'fast', messages: [{ value: 'no' }] }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(AuthorizationError);
      expect(refused).toMatchObject({ errorCode: 29, type: 'TOPIC_AUTHORIZATION_FAILED', operation: 'WRITE', resource: 'fast' });
      await rdmq(cluster, ['acls', 'add', '--allow-principal', ANONYMOUS, '--operation', 'write', '--topic', 'fast']);
      await producer.send({ topic: 'fast', messages: [{ value: 'yes' }] });
    } finally {
      await producer.disconnect();
    }

    const readAll = async (): Promise<string[]> => {
      const consumer = new Rdmq({ control: cluster.control }).consumer();
      await consumer.connect();
      const values: string[] = [];
      try {
        await consumer.subscribe({ topic: 'fast', fromBeginning: true });
        await new Promise<void>((resolve, reject) => {
          consumer.run({ eachMessage: async ({ message }) => void (values.push(message.value!.toString()) && resolve()) }, reject).catch(reject);
        });
      } finally {
        await consumer.disconnect();
      }
      return values;
    };
    const denied = await readAll().catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(AuthorizationError);
    expect(denied).toMatchObject({ errorCode: 29, operation: 'READ', resource: 'fast' });
    await rdmq(cluster, ['acls', 'add', '--allow-principal', ANONYMOUS, '--operation', 'read', '--topic', 'fast']);
    expect(await readAll()).toEqual(['yes']);

    // A group member needs READ on the group too.
    const member = new Rdmq({ control: cluster.control }).consumer({ groupId: 'sdk-group' });
    await member.connect();
    try {
      await member.subscribe({ topic: 'fast', fromBeginning: true });
      const refusedGroup = await member.run({ eachMessage: async () => undefined }).catch((e: unknown) => e);
      expect(refusedGroup).toBeInstanceOf(AuthorizationError);
      expect(refusedGroup).toMatchObject({ errorCode: 30, type: 'GROUP_AUTHORIZATION_FAILED', resource: 'sdk-group' });
    } finally {
      await member.disconnect();
    }
    await rdmq(cluster, ['acls', 'add', '--allow-principal', ANONYMOUS, '--operation', 'read', '--group', 'sdk-group']);
    const allowedMember = new Rdmq({ control: cluster.control }).consumer({ groupId: 'sdk-group' });
    await allowedMember.connect();
    try {
      await allowedMember.subscribe({ topic: 'fast', fromBeginning: true });
      const got = new Promise<string>((resolve) => void allowedMember.run({ eachMessage: async ({ message }) => resolve(message.value!.toString()) }));
      expect(await got).toBe('yes');
    } finally {
      await allowedMember.disconnect();
    }

    // Restarted on the same data: the same ACLs, the same decisions.
    const before = await rdmq(cluster, ['acls', 'list']);
    const dataDir = cluster.dataDir;
    await cluster.stop({ keepData: true });
    cluster = await startCluster({ dataDir, regionSize: '256M', segmentSize: '4M', extraArgs: ['--allow-everyone-if-no-acl-found', 'false'] });
    expect(await rdmq(cluster, ['acls', 'list'])).toBe(before);
    expect(await readAll()).toEqual(['yes']);
    expect(await kafkaErrorOf(produceOne(kafkaOf(cluster), 'logs-secret', 'leak'))).toBe('TOPIC_AUTHORIZATION_FAILED');
    const admin = kafkaOf(cluster).admin();
    await admin.connect();
    try {
      expect((await admin.fetchTopicMetadata()).topics.map((t) => t.name)).toContain('fast');
    } finally {
      await admin.disconnect();
    }
  });
});

describe('ACLs at a gateway of its own (`rdmq gateway`)', () => {
  let cluster: ClusterProcess;
  let gateway: RemoteGatewayProcess;
  let client: RawKafkaClient;
  beforeAll(async () => {
    cluster = await startCluster({ regionSize: '256M', segmentSize: '4M' });
    gateway = await startRemoteGatewayProcess(cluster.control, ['--cluster-secret-file', cluster.clusterSecretFile]);
    client = await RawKafkaClient.connect(gateway.kafka);
  });
  afterAll(async () => {
    client?.close();
    await gateway?.stop();
    await cluster?.stop();
  });

  const produceCode = async (topic: string): Promise<number> => {
    const records = await buildRecordBatch({ records: [{ key: null, value: Buffer.from('v') }] });
    const produced = await client.request('Produce', 9, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: 0, records }] }] });
    return produced.responses[0].partitionResponses[0].errorCode as number;
  };
  const fetchCode = async (topic: string): Promise<number> => {
    const fetched = await client.request('Fetch', 12, {
      replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
      topics: [{ topic, topicId: Buffer.alloc(16), partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0n, lastFetchedEpoch: -1, logStartOffset: -1n, partitionMaxBytes: 1 << 20 }] }],
      forgottenTopicsData: [], rackId: '',
    });
    return fetched.responses[0].partitions[0].errorCode as number;
  };
  /** Waits until `probe` answers `code`; returns how long that took. */
  const until = async (probe: () => Promise<number>, code: number): Promise<number> => {
    const started = Date.now();
    for (;;) {
      if ((await probe()) === code) return Date.now() - started;
      if (Date.now() - started > 5000) throw new Error(`still not ${code} after 5 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  it('decides Produce and Fetch with the broker\'s ACLs, which it polls: a new DENY and its removal take effect within about half a second', async () => {
    await rdmq(cluster, ['topics', 'create', 'remote']);
    expect(await produceCode('remote')).toBe(0);
    expect(await fetchCode('remote')).toBe(0);
    await rdmq(cluster, ['acls', 'add', '--deny-principal', ANONYMOUS, '--operation', 'write', '--topic', 'remote']);
    expect(await until(() => produceCode('remote'), 29)).toBeLessThan(2000);
    // The topic has an ACL now and none allows READ.
    expect(await fetchCode('remote')).toBe(29);
    // Metadata is forwarded: the broker's gateway decides it as the same principal.
    const metadata = await client.request('Metadata', 9, { topics: [{ name: 'remote' }], allowAutoTopicCreation: false, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false });
    expect(metadata.topics[0].errorCode).toBe(29);
    await rdmq(cluster, ['acls', 'remove', '--topic', 'remote']);
    expect(await until(() => produceCode('remote'), 0)).toBeLessThan(2000);
    expect(await fetchCode('remote')).toBe(0);
  });
});

describe('ACLs name the users of SASL logins, on both doors', () => {
  let cluster: ClusterProcess;
  let sasl: string;
  beforeAll(async () => {
    cluster = await startCluster({
      regionSize: '256M',
      segmentSize: '4M',
      extraArgs: ['--listeners', 'SASL_PLAINTEXT://127.0.0.1:0', '--allow-everyone-if-no-acl-found', 'false'],
    });
    sasl = `127.0.0.1:${cluster.kafkaPorts.SASL_PLAINTEXT}`;
    await createUser(cluster, 'alice', 'alice-secret');
    await createUser(cluster, 'bob', 'bob-secret');
    await rdmq(cluster, ['topics', 'create', 'payments']);
    await rdmq(cluster, ['acls', 'add', '--allow-principal', 'User:alice', '--operation', 'write', '--operation', 'describe', '--topic', 'payments']);
  });
  afterAll(async () => {
    const dataDir = cluster?.dataDir;
    await cluster?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const loggedIn = (username: string): Kafka =>
    new Kafka({ clientId: username, brokers: [sasl], sasl: { mechanism: 'scram-sha-512', username, password: `${username}-secret` }, logLevel: logLevel.NOTHING, retry: { retries: 1, initialRetryTime: 100 } });

  it('alice, allowed WRITE on the topic, produces through the Kafka door and the fast path; bob, logged in as well, is refused on both', async () => {
    const alice = loggedIn('alice').producer();
    await alice.connect();
    await alice.send({ topic: 'payments', messages: [{ value: 'from alice' }] });
    await alice.disconnect();
    const bob = loggedIn('bob').producer();
    await bob.connect();
    await expect(bob.send({ topic: 'payments', messages: [{ value: 'from bob' }] })).rejects.toThrow(/Topic authorization failed/);
    await bob.disconnect();

    for (const [username, allowed] of [['alice', true], ['bob', false]] as const) {
      const rdmqClient = new Rdmq({ control: cluster.control, sasl: { mechanism: 'scram-sha-512', username, password: `${username}-secret` } });
      const producer = rdmqClient.producer();
      await producer.connect();
      try {
        const sent = producer.send({ topic: 'payments', messages: [{ value: `fast from ${username}` }] });
        if (allowed) await sent;
        else await expect(sent).rejects.toMatchObject({ errorCode: 29, operation: 'WRITE', resource: 'payments' });
      } finally {
        await producer.disconnect();
      }
    }
  });

  it('a caller without the cluster secret cannot change ACLs or, as User:ANONYMOUS, create topics over the control plane', async () => {
    const stranger = path.join(cluster.dataDir, 'not-the-secret');
    fs.writeFileSync(stranger, 'ab'.repeat(32), { mode: 0o600 });
    const grant = await run(process.execPath, [MAIN, 'acls', 'add', '--allow-principal', 'User:bob', '--operation', 'all', '--topic', 'payments', '--control', cluster.control, '--cluster-secret-file', stranger]);
    expect(grant.code).not.toBe(0);
    expect(grant.stderr + grant.stdout).toMatch(/members of the cluster only/);
    const create = await run(process.execPath, [MAIN, 'topics', 'create', 'sneaky', '--control', cluster.control, '--cluster-secret-file', stranger]);
    expect(create.code).not.toBe(0);
    expect(create.stderr + create.stdout).toMatch(/User:ANONYMOUS is not authorized to CREATE topic 'sneaky'/);
    expect(await rdmq(cluster, ['topics', 'list'])).not.toMatch(/sneaky/);
  });
});
