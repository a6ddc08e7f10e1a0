// The roles apart over a real network path: `rdmq cluster start --netns` puts
// the storage node, the broker and the gateway each in a network namespace of
// its own (scripts/netns.sh: veth pairs on a bridge), and the data moves
// through both doors from the host's namespace. Namespaces alone do not keep
// UCX off shared memory — it still sees one host and picks sysv/posix/cma —
// so members run with UCX_TLS=tcp, and this test checks the lanes UCX chose.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Kafka, logLevel } from 'kafkajs';
import { Transport } from '../addon';
import { Rdmq } from '../rdma-client';
import { readTopic } from './testing/apart';
import { ClusterRun, waitUntilGone } from '../bench/local-cluster';
import { NETNS_CLIENT_UCX_ENV, NETNS_PREFIX } from './cluster-plan';
import { dataRequestsServedAt } from '../rdma-client/testing/data-requests';

const NETNS_SCRIPT = path.join(__dirname, '..', '..', 'scripts', 'netns.sh');
const LANES_SCRIPT = `
const { Transport } = require(${JSON.stringify(path.join(__dirname, '..', 'addon'))});
(async () => {
  const [host, port] = process.argv[1].split(':');
  const t = new Transport();
  const ep = await t.connect(host, Number(port));
  process.stdout.write(ep.describe());
  process.exit(0);
})().catch((e) => { process.stderr.write(String(e)); process.exit(1); });`;

function namespaces(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n.startsWith(NETNS_PREFIX));
}

/** UCX's lanes ("tcp/eth0", "posix/memory", ...) of an endpoint opened from inside `netns` with `env`. */
function lanesFrom(netns: string, env: Record<string, string>, address: string): string[] {
  const out = execFileSync('ip', ['netns', 'exec', netns, 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, '-e', LANES_SCRIPT, address], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  return lanes(out);
}

const lanes = (describe: string): string[] => [...describe.matchAll(/lane\[\d+\]:\s+\d+:(\w+\/[\w.:]+)/g)].map((m) => m[1]);
const SHARED_MEMORY = /^(posix|sysv|cma|xpmem|knem)\//;

describe('the roles in network namespaces of their own', () => {
  // Every variable the client settings set, restored after: this worker runs other suites next.
  const saved = Object.fromEntries(Object.keys(NETNS_CLIENT_UCX_ENV).map((k) => [k, process.env[k]]));
  let run: ClusterRun | undefined;
  let dir = '';

  beforeAll(() => {
    // This process is a fast-path client in the host's namespace: TCP over the bridge, like the members.
    Object.assign(process.env, NETNS_CLIENT_UCX_ENV);
  });

  afterAll(async () => {
    await run?.signal('SIGKILL');
    execFileSync('bash', [NETNS_SCRIPT, 'down']);
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('moves data between storage node, broker and gateway over UCX on TCP, through both doors, and removes the namespaces on rdmq cluster stop', async () => {
    dir = fs.mkdtempSync(path.join('/dev/shm', 'rdmq-netns-test-'));
    run = await ClusterRun.start({ dataDir: dir, netns: true, gateways: 1 });
    const storage = run.member('storage-0');
    const broker = run.member('broker-0');
    const gateway = run.member('gateway-0');
    // Three namespaces, three network stacks.
    const netOf = (pid: number): string => fs.readlinkSync(`/proc/${pid}/ns/net`);
    expect(new Set([process.pid, storage.pid!, broker.pid!, gateway.pid!].map(netOf)).size).toBe(4);
    expect(namespaces().sort()).toEqual(['rdmq-ns0', 'rdmq-ns1', 'rdmq-ns2']);
    for (const m of [storage, broker, gateway]) {
      const env = fs.readFileSync(`/proc/${m.pid}/environ`, 'utf8').split('\0');
      expect(env).toEqual(expect.arrayContaining(['UCX_TLS=tcp', 'UCX_NET_DEVICES=eth0']));
    }

    // What UCX picks from the gateway's namespace to the broker's fast path: with the members' settings
    // TCP on the veth only; with UCX's defaults it would be shared memory despite the namespaces.
    // (The storage node's fast path is its checked data service, plain TCP: UCX carries no data to it.)
    const fastpath = broker.addresses.fastpath!;
    const asMember = lanesFrom(gateway.netns!, { UCX_TLS: 'tcp', UCX_NET_DEVICES: 'eth0' }, fastpath);
    expect(asMember).toEqual(['tcp/eth0.0']);
    const withDefaults = lanesFrom(gateway.netns!, { UCX_TLS: 'all', UCX_NET_DEVICES: 'all' }, fastpath);
    expect(withDefaults.every((l) => l.startsWith('tcp/'))).toBe(true); // the broker offers TCP only
    // And this process's own endpoint (the SDK's side) runs over the bridge.
    const transport = new Transport();
    const [host, port] = [fastpath.slice(0, fastpath.lastIndexOf(':')), Number(fastpath.slice(fastpath.lastIndexOf(':') + 1))];
    const ep = await transport.connect(host, port);
    const hostLanes = lanes(ep.describe());
    await ep.close();
    transport.close();
    expect(hostLanes.length).toBeGreaterThan(0);
    expect(hostLanes.filter((l) => SHARED_MEMORY.test(l))).toEqual([]);
    expect(hostLanes.every((l) => l.startsWith('tcp/rdmqbr0'))).toBe(true);

    // Both doors in, both doors out.
    const topic = 'netns-doors';
    const control = run.control[0];
    const admin = new Rdmq({ control }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
    await admin.disconnect();
    const kafka = new Kafka({ clientId: 'netns-test', brokers: run.bootstrap, logLevel: logLevel.NOTHING });
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const written: string[] = [];
    for (let i = 0; i < 30; i++) {
      written.push(`kafka-${i}`);
      await producer.send({ topic, acks: -1, messages: [{ value: `kafka-${i}`, partition: i % 2 }] });
    }
    await producer.disconnect();
    const sdk = new Rdmq({ control }).producer({ mode: 'shared' });
    await sdk.connect();
    for (let i = 0; i < 30; i++) {
      written.push(`sdk-${i}`);
      await sdk.send({ topic, messages: [{ value: `sdk-${i}`, partition: i % 2 }] });
    }
    await sdk.disconnect();

    const viaSdk = [...(await readTopic(control, topic)).values()].flatMap((l) => l.records.map((r) => r.value));
    expect(viaSdk.sort()).toEqual([...written].sort());
    // The SDK's and the gateway's bytes reached the storage node over the network, never through its Unix
    // socket: a namespace does not hide the node's socket file, nor its process from CMA copies.
    const storageMetrics = storage.addresses.metrics!;
    expect(await dataRequestsServedAt(storageMetrics, 'put', 'tcp')).toBeGreaterThan(0);
    expect(await dataRequestsServedAt(storageMetrics, 'get', 'tcp')).toBeGreaterThan(0);
    expect(await dataRequestsServedAt(storageMetrics, 'put', 'unix')).toBe(0);
    expect(await dataRequestsServedAt(storageMetrics, 'get', 'unix')).toBe(0);
    const consumer = kafka.consumer({ groupId: 'netns-test', maxWaitTimeInMs: 200 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const viaKafka: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`kafkajs read ${viaKafka.length} of ${written.length}`)), 40_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          viaKafka.push(message.value!.toString());
          if (viaKafka.length >= written.length) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    await consumer.disconnect();
    expect(viaKafka.sort()).toEqual([...written].sort());

    // `rdmq cluster stop` ends the launcher, which stops every member and removes the namespaces.
    const pids = run.state.members.map((m) => m.pid!);
    expect(await run.cli('stop')).toContain(`stopped the cluster in ${dir}`);
    await run.signal('SIGTERM'); // returns at once: the launcher is gone
    expect(run.exitCode).toBe(0);
    await waitUntilGone(pids, 5000);
    expect(namespaces()).toEqual([]);
  }, 150_000);
});
