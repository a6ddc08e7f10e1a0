// `rdmq cluster` as an operator runs it: the real CLI starts every member as
// a process of its own, says when the cluster serves, reports members that
// die, brings them back on request, and leaves no process behind — neither
// on SIGTERM nor when the launcher itself is SIGKILLed.
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { Kafka, logLevel } from 'kafkajs';
import { Rdmq } from '../rdma-client';
import { readTopic } from './testing/apart';
import { ClusterRun, freeBasePort, runCli, waitUntilGone } from '../bench/local-cluster';
import { planCluster } from './cluster-plan';
import { startEtcdMember } from './cluster';

const tmp = (): string => fs.mkdtempSync(path.join('/dev/shm', 'rdmq-cluster-test-'));

function cmdline(pid: number): string[] {
  return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
}

async function produceBothDoors(run: ClusterRun, topic: string, count: number): Promise<string[]> {
  const admin = new Rdmq({ control: run.control[0] }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
  await admin.disconnect();
  const values: string[] = [];
  const kafka = new Kafka({ clientId: 'cluster-test', brokers: run.bootstrap, logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  for (let i = 0; i < count; i++) {
    values.push(`kafka-${i}`);
    await producer.send({ topic, acks: -1, messages: [{ value: `kafka-${i}`, partition: i % 2 }] });
  }
  await producer.disconnect();
  const sdk = new Rdmq({ control: run.control[0] }).producer({ mode: 'shared' });
  await sdk.connect();
  for (let i = 0; i < count; i++) {
    values.push(`sdk-${i}`);
    await sdk.send({ topic, messages: [{ value: `sdk-${i}`, partition: i % 2 }] });
  }
  await sdk.disconnect();
  return values;
}

async function readAll(control: string, topic: string): Promise<string[]> {
  const logs = await readTopic(control, topic);
  return [...logs.values()].flatMap((l) => l.records.map((r) => r.value)).sort();
}

describe('rdmq cluster', () => {
  it('lays out the members of a 3-storage-node, 2-broker, 2-gateway cluster with every list the roles need', () => {
    const plan = planCluster({
      storageNodes: 3, brokers: 2, gateways: 2, dataDir: '/d', basePort: 19000, regionSize: '1G', segmentSize: '16M', durability: 'flush', netns: false, host: '127.0.0.1',
    });
    expect(plan.members.map((m) => m.name)).toEqual(['etcd', 'storage-0', 'storage-1', 'storage-2', 'broker-0', 'broker-1', 'gateway-0', 'gateway-1']);
    const broker = plan.members.find((m) => m.name === 'broker-1')!;
    const arg = (m: { args: string[] }, flag: string): string | undefined => m.args[m.args.indexOf(flag) + 1];
    expect(arg(broker, '--storage')).toBe('127.0.0.1:19100,127.0.0.1:19110,127.0.0.1:19120');
    expect(arg(broker, '--etcd')).toBe('http://127.0.0.1:19000');
    expect(arg(broker, '--default-replication-factor')).toBe('3');
    expect(arg(broker, '--data')).toBe('/d/broker-1');
    expect(arg(plan.members.find((m) => m.name === 'gateway-1')!, '--control')).toBe('127.0.0.1:19200,127.0.0.1:19210');
    expect(plan.bootstrap).toEqual(['127.0.0.1:19303', '127.0.0.1:19313']);
    expect(plan.control).toEqual(['127.0.0.1:19200', '127.0.0.1:19210']);
    // One storage node and one broker: none of the multi-node flags, so it runs on any rdmq.
    const single = planCluster({ ...plan.spec, storageNodes: 1, brokers: 1 });
    expect(single.members.map((m) => m.name)).toEqual(['storage-0', 'broker-0', 'gateway-0', 'gateway-1']);
    expect(single.members.flatMap((m) => m.args)).not.toEqual(expect.arrayContaining(['--etcd']));
    expect(single.members.flatMap((m) => m.args)).not.toEqual(expect.arrayContaining(['--default-replication-factor']));
    // In namespaces every member has an address of its own; etcd stays on the host's side of the bridge.
    const apart = planCluster({ ...plan.spec, netns: true });
    expect(apart.members.map((m) => m.netns)).toEqual([undefined, 'rdmq-ns0', 'rdmq-ns1', 'rdmq-ns2', 'rdmq-ns3', 'rdmq-ns4', 'rdmq-ns5', 'rdmq-ns6']);
    expect(apart.bootstrap).toEqual(['10.213.0.15:19303', '10.213.0.16:19313']);
    expect(apart.etcd).toEqual(['http://10.213.0.1:19000']);
  });

  it('refuses a bad layout with a clear message', async () => {
    await expect(runCli(['start', '--storage-nodes', '2', '--replication-factor', '3', '--dry-run'])).rejects.toThrow(/--replication-factor must be an integer 1..2/);
    await expect(runCli(['start', '--brokers', '0', '--dry-run'])).rejects.toThrow(/--brokers must be an integer 1..10, got 0/);
    await expect(runCli(['start', '--base-port', '70000', '--dry-run'])).rejects.toThrow(/--base-port/);
    await expect(runCli(['status', '--data', '/dev/shm/rdmq-no-such-cluster'])).rejects.toThrow(/no cluster state/);
  });

  it('starts etcd for several brokers on its planned port, with its data in DIR/etcd', async () => {
    const dir = tmp();
    const plan = planCluster({
      storageNodes: 1, brokers: 2, gateways: 1, dataDir: dir, basePort: await freeBasePort(), regionSize: '256M', segmentSize: '4M', durability: 'flush', netns: false, host: '127.0.0.1',
    });
    const etcd = await startEtcdMember(plan.members[0], []);
    try {
      const health = await new Promise<string>((resolve, reject) =>
        http.get(`${plan.etcd[0]}/health`, (res) => {
          let body = '';
          res.on('data', (c) => (body += c)).on('end', () => resolve(body));
        }).on('error', reject),
      );
      expect(health).toMatch(/"health":\s*"true"/);
      expect(fs.existsSync(path.join(dir, 'etcd', 'member'))).toBe(true);
    } finally {
      await etcd.signal('SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);

  it('runs each member as a process of its own, serves both doors once it prints its addresses, and stops every member on SIGTERM', async () => {
    const dir = tmp();
    const run = await ClusterRun.start({ dataDir: dir, gateways: 2 });
    try {
      expect(run.bootstrap).toHaveLength(2);
      expect(run.control).toHaveLength(1);
      const members = run.state.members;
      expect(members.map((m) => `${m.name} ${m.up}`)).toEqual(['storage-0 true', 'broker-0 true', 'gateway-0 true', 'gateway-1 true']);
      // Each member is its own process, its command line naming its role and data directory.
      expect(new Set(members.map((m) => m.pid)).size).toBe(4);
      for (const m of members) {
        const args = cmdline(m.pid!);
        expect(args).toContain(m.role);
        expect(args).toContain(path.join(dir, m.name));
      }
      const written = await produceBothDoors(run, 'cluster-doors', 20);
      expect(await readAll(run.control[0], 'cluster-doors')).toEqual([...written].sort());
      const status = await run.cli('status');
      for (const m of members) expect(status).toMatch(new RegExp(`${m.name}\\s+up\\s+${m.pid}`));
      expect(status).toContain(`bootstrap: ${run.bootstrap.join(',')}`);

      await run.signal('SIGTERM');
      expect(run.exitCode).toBe(0);
      await waitUntilGone(members.map((m) => m.pid!), 5000);
      expect(run.state.members.every((m) => !m.up)).toBe(true);
    } finally {
      await run.signal('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('reports a member that dies without restarting it, restarts it on request, and takes every member down with a SIGKILLed launcher', async () => {
    const dir = tmp();
    const run = await ClusterRun.start({ dataDir: dir, gateways: 2 });
    try {
      const victim = run.member('gateway-1');
      process.kill(victim.pid!, 'SIGKILL');
      await waitUntilGone([victim.pid!]);
      const deadline = Date.now() + 10_000;
      while (run.member('gateway-1').up && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(run.member('gateway-1')).toMatchObject({ up: false, exit: 'killed (SIGKILL)' });
      expect(await run.cli('status')).toMatch(/gateway-1\s+down\s+\d+.*killed \(SIGKILL\)/);
      expect(run.stderr()).toContain('gateway-1');
      expect(run.exitCode).toBeNull(); // the rest keeps serving

      expect(await run.cli('restart-member', 'gateway-1')).toMatch(/gateway-1 up \(pid \d+\)/);
      const back = run.member('gateway-1');
      expect(back.up).toBe(true);
      expect(back.pid).not.toBe(victim.pid);
      // It serves again where it was: a Kafka client bootstrapping from it alone sees both gateways.
      const admin = new Kafka({ clientId: 'cluster-test', brokers: [back.addresses.kafka!], logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      expect((await admin.describeCluster()).brokers.map((b) => `${b.host}:${b.port}`)).toEqual(expect.arrayContaining(run.bootstrap));
      await admin.disconnect();

      const pids = run.state.members.map((m) => m.pid!);
      await run.signal('SIGKILL');
      await waitUntilGone(pids, 20_000);
    } finally {
      await run.signal('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
