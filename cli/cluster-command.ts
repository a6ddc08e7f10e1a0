// The `rdmq cluster` command line: start (the launcher, in the foreground),
// status, stop, restart-member.
import * as path from 'path';
import { parseArgs } from 'util';
import { askLauncher, ClusterError, LocalCluster, memberAlive, readState } from './cluster';
import { ClusterPlanError, ClusterSpec, DEFAULT_BASE_PORT, planCluster } from './cluster-plan';

export const CLUSTER_USAGE = `usage:
  rdmq cluster start [--storage-nodes N] [--brokers M] [--gateways G] [--data DIR] [--base-port P]
                     [--replication-factor R] [--region-size SIZE] [--segment-size SIZE] [--durability none|flush|sync]
                     [--lease-timeout-ms MS] [--netns] [--dry-run] [--ready-timeout-ms MS]
      a local cluster, every member a process of its own (defaults: 1 storage node, 1 broker, 1 gateway,
      data in ./rdmq-cluster, ports from 19000: etcd P+0/P+1, storage-K P+100+10K, broker-K P+200+10K,
      gateway-K P+300+10K with +0 control, +1 fast path, +2 metrics, +3 Kafka); etcd when M > 1;
      --netns runs each member in a network namespace of its own (root; scripts/netns.sh), UCX over TCP.
      Prints "bootstrap: ..." and "control: ..." once the cluster serves; Ctrl-C or SIGTERM stops it all.
      --dry-run prints every member's command line instead.
  rdmq cluster status [--data DIR] [--json]      every member: pid, up/down, addresses
  rdmq cluster stop [--data DIR]                 stops the cluster running on DIR
  rdmq cluster restart-member NAME [--data DIR]  starts a member that died (or restarts one) on its data and ports`;

const DEFAULT_DIR = './rdmq-cluster';

function fail(message: string): never {
  process.stderr.write(`rdmq cluster: ${message}\n`);
  process.exit(2);
}

function integer(name: string, value: string | undefined, fallback: number | undefined): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n)) fail(`--${name} must be an integer, got ${value}`);
  return n;
}

export async function clusterCommand(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case 'start':
        return await start(rest);
      case 'status':
        return status(rest);
      case 'stop':
        return await stop(rest);
      case 'restart-member':
        return await restartMember(rest);
      default:
        process.stdout.write(`${CLUSTER_USAGE}\n`);
        if (sub !== 'help' && sub !== '--help' && sub !== '-h') process.exitCode = 2;
    }
  } catch (err) {
    if (err instanceof ClusterError || err instanceof ClusterPlanError) fail(err.message);
    throw err;
  }
}

async function start(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'storage-nodes': { type: 'string' },
      brokers: { type: 'string' },
      gateways: { type: 'string' },
      data: { type: 'string' },
      'base-port': { type: 'string' },
      'replication-factor': { type: 'string' },
      'region-size': { type: 'string' },
      'segment-size': { type: 'string' },
      durability: { type: 'string' },
      netns: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      'ready-timeout-ms': { type: 'string' },
      'lease-timeout-ms': { type: 'string' },
    },
    strict: true,
  });
  const durability = values.durability ?? 'flush';
  if (!['none', 'flush', 'sync'].includes(durability)) fail(`--durability allows none, flush, sync; got ${durability}`);
  const spec: ClusterSpec = {
    storageNodes: integer('storage-nodes', values['storage-nodes'], 1)!,
    brokers: integer('brokers', values.brokers, 1)!,
    gateways: integer('gateways', values.gateways, 1)!,
    dataDir: path.resolve(values.data ?? DEFAULT_DIR),
    basePort: integer('base-port', values['base-port'], DEFAULT_BASE_PORT)!,
    replicationFactor: integer('replication-factor', values['replication-factor'], undefined),
    regionSize: values['region-size'] ?? '1G',
    segmentSize: values['segment-size'] ?? '16M',
    durability: durability as ClusterSpec['durability'],
    netns: values.netns === true,
    host: '127.0.0.1',
    leaseTimeoutMs: integer('lease-timeout-ms', values['lease-timeout-ms'], undefined),
  };
  if (values['dry-run']) {
    const plan = planCluster(spec);
    for (const m of plan.members) {
      const where = m.netns ? `ip netns exec ${m.netns} ` : '';
      process.stdout.write(`${m.name}: ${where}${m.role === 'etcd' ? '/usr/bin/etcd' : 'rdmq'} ${m.args.join(' ')}\n`);
    }
    process.stdout.write(`bootstrap: ${plan.bootstrap.join(',')}\ncontrol: ${plan.control.join(',')}\n`);
    return;
  }
  const log = (line: string): void => void process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const readyTimeoutMs = integer('ready-timeout-ms', values['ready-timeout-ms'], 60_000)!;
  // Signals that come while members start stop what has started.
  let cluster: LocalCluster | undefined;
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log(`rdmq cluster: ${signal}: stopping every member`);
    if (!cluster) process.exit(1); // members started so far die with the launcher (pdeathsig)
    cluster.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGHUP', () => shutdown('SIGHUP'));
  cluster = await LocalCluster.start(spec, log, readyTimeoutMs);
  if (stopping) return;
  process.stdout.write(`bootstrap: ${cluster.plan.bootstrap.join(',')}\ncontrol: ${cluster.plan.control.join(',')}\n`);
  log(`rdmq cluster: serving; data in ${spec.dataDir}, state in ${path.join(spec.dataDir, 'cluster.json')}; Ctrl-C stops it`);
}

function status(argv: string[]): void {
  const { values } = parseArgs({ args: argv, options: { data: { type: 'string' }, json: { type: 'boolean' } }, strict: true });
  const dataDir = path.resolve(values.data ?? DEFAULT_DIR);
  const state = readState(dataDir);
  if (!state) fail(`no cluster state in ${dataDir} (rdmq cluster start --data ${dataDir} writes it)`);
  const members = state.members.map((m) => ({ ...m, up: memberAlive(m) }));
  if (values.json) {
    process.stdout.write(JSON.stringify({ ...state, members }, null, 1) + '\n');
    return;
  }
  const launcherUp = (() => {
    try {
      process.kill(state.launcherPid, 0);
      return true;
    } catch {
      return false;
    }
  })();
  process.stdout.write(`cluster in ${dataDir}: launcher pid ${state.launcherPid} ${launcherUp ? 'running' : 'gone'}${state.netns ? ', in network namespaces' : ''}\n`);
  process.stdout.write(`bootstrap: ${state.bootstrap.join(',')}\ncontrol: ${state.control.join(',')}\n`);
  const rows = members.map((m) => [
    m.name,
    m.up ? 'up' : 'down',
    m.pid === undefined ? '-' : String(m.pid),
    Object.entries(m.addresses).map(([k, v]) => `${k} ${v}`).join(', '),
    m.up ? '' : (m.exit ?? ''),
  ]);
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i].length), 6));
  for (const r of [['member', 'state', 'pid', 'addresses', ''], ...rows]) {
    process.stdout.write(`${r.slice(0, 4).map((c, i) => c.padEnd(widths[i])).join('  ')}  ${r[4]}`.trimEnd() + '\n');
  }
}

async function stop(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { data: { type: 'string' } }, strict: true });
  const dataDir = path.resolve(values.data ?? DEFAULT_DIR);
  const state = readState(dataDir);
  await askLauncher(dataDir, { stop: true });
  // Returns once the launcher is gone, i.e. every member stopped.
  for (;;) {
    try {
      process.kill(state!.launcherPid, 0);
    } catch {
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  process.stdout.write(`stopped the cluster in ${dataDir}\n`);
}

async function restartMember(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, options: { data: { type: 'string' } }, allowPositionals: true, strict: true });
  if (positionals.length !== 1) fail('restart-member takes one member name (rdmq cluster status lists them)');
  const dataDir = path.resolve(values.data ?? DEFAULT_DIR);
  const answer = await askLauncher(dataDir, { restart: positionals[0] });
  if (answer.error) fail(answer.error);
  process.stdout.write(`${positionals[0]} up (pid ${answer.member?.pid})\n`);
}
