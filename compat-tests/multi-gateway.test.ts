// Several Kafka gateways against one broker: `rdmq start` (whose own gateway
// is node 0) and two `rdmq gateway` processes. Real kafkajs and kcat clients
// see three brokers, partitions led by all of them, and one set of topics,
// groups and offsets whichever gateway they ask.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Kafka, logLevel, Producer } from 'kafkajs';
import { ClusterProcess, freeLoopbackPort, startCluster } from '../bench/cluster';
import { RemoteGatewayProcess, startRemoteGatewayProcess } from '../gateway/testing/remote-gateway';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

function kcat(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('/usr/bin/kcat', args, { timeout: 20_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`kcat ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(stdout),
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

async function requestsServed(metricsPort: number, api: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('rdmq_gateway_requests_total') && l.includes(`api="${api}"`));
  return line ? Number(line.split(' ').pop()) : 0;
}

async function eventually<T>(what: string, probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let error: unknown;
  while (Date.now() < deadline) {
    try {
      last = await probe();
      if (ok(last)) return last;
    } catch (err) {
      error = err;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms; last: ${JSON.stringify(last)} ${error ?? ''}`);
}

interface KcatMetadata {
  originating_broker: { id: number };
  brokers: { id: number; name: string }[];
  topics: { topic: string; partitions: { partition: number; leader: number }[] }[];
}

describe('several gateways against one broker', () => {
  const dataDir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'rdmq-multi-'));
  let controlPort: number;
  let cluster: ClusterProcess;
  let a: RemoteGatewayProcess;
  let b: RemoteGatewayProcess;
  const producers: Producer[] = [];
  const member = (): string[] => ['--cluster-secret-file', cluster.clusterSecretFile];
  const start = () => startCluster({ dataDir, extraArgs: ['--control', `127.0.0.1:${controlPort}`] });
  const metadata = async (gateway: string, topic?: string): Promise<KcatMetadata> =>
    JSON.parse(await kcat(['-b', gateway, '-L', '-J', ...(topic ? ['-t', topic] : [])])) as KcatMetadata;

  beforeAll(async () => {
    controlPort = await freeLoopbackPort();
    cluster = await start();
    a = await startRemoteGatewayProcess(cluster.control, member());
    b = await startRemoteGatewayProcess(cluster.control, [...member(), '--node-id', '5']);
  });

  afterAll(async () => {
    for (const p of producers) await p.disconnect().catch(() => undefined);
    await a?.stop();
    await b?.stop();
    await cluster?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('every gateway lists all three, with partition leadership spread across them', async () => {
    expect(a.nodeId).toBe(1);
    expect(b.nodeId).toBe(5);
    const kafka = new Kafka({ clientId: 'multi-admin', brokers: [a.kafka], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic: 'spread', numPartitions: 6 }], waitForLeaders: true });
      const cluster = await admin.describeCluster();
      expect(cluster.brokers.map((n) => n.nodeId).sort()).toEqual([0, 1, 5]);
    } finally {
      await admin.disconnect();
    }
    const views = await Promise.all([`127.0.0.1:${cluster.kafkaPort}`, a.kafka, b.kafka].map((g) => metadata(g, 'spread')));
    const sameFromEvery = views.map(({ brokers, topics }) => ({ brokers, topics }));
    for (const view of sameFromEvery) expect(view).toEqual(sameFromEvery[0]);
    expect(views[0].brokers.map((n) => n.id).sort()).toEqual([0, 1, 5]);
    const leaders = new Set(views[0].topics[0].partitions.map((p) => p.leader));
    expect([...leaders].sort()).toEqual([0, 1, 5]);
    // Operators see them too.
    const status = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [path.join(__dirname, '..', 'cli', 'main.js'), 'status', '--control', cluster.control], (err, stdout) => (err ? reject(err) : resolve(stdout))),
    );
    expect(status).toContain(`Kafka gateways 0@127.0.0.1:${cluster.kafkaPort}, 1@${a.kafka}, 5@${b.kafka}`);
  });

  it('a kafkajs producer writes to each partition through its leader, and a group reads everything once from any gateway', async () => {
    const kafka = new Kafka({ clientId: 'multi', brokers: [b.kafka], logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    producers.push(producer);
    await producer.connect();
    const before = await Promise.all([cluster.metricsPort, a.metricsPort, b.metricsPort].map((port) => requestsServed(port, 'Produce')));
    const sent = Array.from({ length: 60 }, (_, i) => ({ partition: i % 6, key: `k${i}`, value: `v${i}` }));
    await producer.send({ topic: 'spread', messages: sent });
    const after = await Promise.all([cluster.metricsPort, a.metricsPort, b.metricsPort].map((port) => requestsServed(port, 'Produce')));
    // Every gateway took produce requests for the partitions it leads.
    after.forEach((n, i) => expect(n).toBeGreaterThan(before[i]));

    // An idempotent producer too: its sequence checks happen at the broker, whichever gateway it writes through.
    const idempotent = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    producers.push(idempotent);
    await idempotent.connect();
    await idempotent.send({ topic: 'spread', messages: Array.from({ length: 12 }, (_, i) => ({ partition: i % 6, value: `idem${i}` })) });

    const received: string[] = [];
    const groupMembers = [a.kafka, b.kafka].map((bootstrap) =>
      new Kafka({ clientId: 'multi-consumer', brokers: [bootstrap], logLevel: logLevel.NOTHING }).consumer({
        groupId: 'multi-group',
        sessionTimeout: 10_000,
        rebalanceTimeout: 10_000,
        heartbeatInterval: 300,
        maxWaitTimeInMs: 200,
      }),
    );
    try {
      await Promise.all(groupMembers.map((c) => c.connect()));
      await Promise.all(groupMembers.map((c) => c.subscribe({ topic: 'spread', fromBeginning: true })));
      await Promise.all(groupMembers.map((c) => c.run({ eachMessage: async ({ message }) => void received.push(message.value!.toString()) })));
      await eventually('the group to read all 72 messages', async () => received.length, (n) => n >= 72, 30_000);
    } finally {
      await Promise.all(groupMembers.map((c) => c.disconnect()));
    }
    expect(received.sort()).toEqual([...sent.map((m) => m.value), ...Array.from({ length: 12 }, (_, i) => `idem${i}`)].sort());
    // The offsets committed through either gateway are the broker's: every gateway reports them.
    const admin = new Kafka({ clientId: 'multi-offsets', brokers: [`127.0.0.1:${cluster.kafkaPort}`], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchOffsets({ groupId: 'multi-group', topics: ['spread'] });
      expect(offsets[0].partitions.reduce((n, p) => n + Number(p.offset), 0)).toBe(72);
    } finally {
      await admin.disconnect();
    }
  }, 60_000);

  it('refuses a second gateway with a node id that is in use', async () => {
    await expect(startRemoteGatewayProcess(cluster.control, [...member(), '--node-id', '5'])).rejects.toThrow(/node id 5 is taken/);
  });

  it('a gateway on all interfaces tells clients the host it was given (--advertised-host)', async () => {
    const c = await startRemoteGatewayProcess(cluster.control, [...member(), '--kafka', '0.0.0.0:0', '--advertised-host', 'localhost', '--allow-insecure']);
    try {
      const port = c.kafka.split(':')[1];
      const view = await metadata(`127.0.0.1:${port}`);
      expect(view.brokers).toContainEqual({ id: c.nodeId, name: `localhost:${port}` });
    } finally {
      await c.stop();
    }
  });

  it('a gateway that dies leaves the list; clients go on through the others', async () => {
    await b.kill();
    const view = await eventually('gateway 5 to leave', () => metadata(a.kafka, 'spread'), (m) => m.brokers.length === 2);
    expect(view.brokers.map((n) => n.id).sort()).toEqual([0, 1]);
    expect(new Set(view.topics[0].partitions.map((p) => p.leader))).toEqual(new Set([0, 1]));
    await kcat(['-b', a.kafka, '-P', '-t', 'spread', '-p', '3'], 'after-kill\n');
    const out = await kcat(['-b', a.kafka, '-C', '-t', 'spread', '-p', '3', '-o', '-1', '-e', '-f', '%s\n']);
    expect(out.trim()).toBe('after-kill');
  });

  it('a gateway rides through a broker restart: it joins again and serves produce and fetch; DeleteRecords survives it', async () => {
    const lowWatermarks = async (): Promise<string[]> => {
      const admin = new Kafka({ clientId: 'multi-delete', brokers: [a.kafka], logLevel: logLevel.NOTHING, retry: { retries: 10, initialRetryTime: 200 } }).admin();
      await admin.connect();
      try {
        return (await admin.fetchTopicOffsets('spread')).sort((x, y) => x.partition - y.partition).map((p) => p.low);
      } finally {
        await admin.disconnect();
      }
    };
    const admin = new Kafka({ clientId: 'multi-delete', brokers: [a.kafka], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    // kafkajs 2.2 looks the partition's leader up in metadata it does not load itself.
    await admin.fetchTopicMetadata({ topics: ['spread'] });
    await admin.deleteTopicRecords({ topic: 'spread', partitions: [{ partition: 0, offset: '5' }] });
    await admin.disconnect();
    expect((await lowWatermarks())[0]).toBe('5');

    await cluster.stop({ keepData: true });
    cluster = await start();
    const view = await eventually('gateway 1 to join the restarted broker', () => metadata(a.kafka, 'spread'), (m) => m.brokers.some((n) => n.id === 1), 20_000);
    expect(view.topics[0].partitions).toHaveLength(6);
    await eventually('a produce through gateway 1', () => kcat(['-b', a.kafka, '-P', '-t', 'spread', '-p', '2'], 'after-restart\n'), () => true);
    const out = await kcat(['-b', a.kafka, '-C', '-t', 'spread', '-p', '2', '-o', '-1', '-e', '-f', '%s\n']);
    expect(out.trim()).toBe('after-restart');
    expect(a.stderr()).toMatch(/gateway 1 joined again/);
    // Requests caught by the restart were abandoned (the client retried), not failed like a bug.
    expect(a.stderr()).not.toMatch(/failed, closing the connection/);
    expect(await lowWatermarks()).toEqual(['5', '0', '0', '0', '0', '0']);
  }, 60_000);
});
