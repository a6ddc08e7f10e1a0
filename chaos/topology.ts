// The cluster under test, as an operator runs it: `rdmq start` alone, the
// roles apart (`rdmq storage`, `rdmq broker --storage`, `rdmq gateway
// --control`), an HA group (etcd, `rdmq storage`, two `rdmq broker
// --etcd`, `rdmq gateway --control A,B`; etcd itself is not faulted), or
// `rdmq cluster start` (chaos/cluster-topology.ts), all on
// loopback with data on /dev/shm at durability flush.
// Every port is fixed for the whole run, so a role restarted on the same data
// directory comes back where its peers and clients look for it.
import * as fs from 'fs';
import * as path from 'path';
import { freeLoopbackPort, RunningEtcd, RunningRole, startEtcd, startRole } from '../bench/cluster';
import { ClusterShape, ClusterTopology } from './cluster-topology';

export type TopologyKind = 'start' | 'apart' | 'ha' | 'cluster';
/** A role of `rdmq start` or the roles apart, or a member of `rdmq cluster` (storage-0, broker-leader, gateway-1, ...). */
export type RoleName = 'start' | 'storage' | 'broker' | 'broker2' | 'gateway' | `${'storage' | 'broker' | 'gateway'}-${number}` | 'broker-leader';

/** What the chaos run needs of a topology: its addresses, and faults dealt to one role at a time. */
export interface ChaosTopology {
  /** Where Kafka clients bootstrap (comma-separated when several). */
  readonly kafka: string;
  /** The brokers' control address(es), for the SDK. */
  readonly control: string;
  readonly roleNames: RoleName[];
  startAll(): Promise<void>;
  /** Starts a role again, on its data directory and ports. */
  start(name: RoleName): Promise<void>;
  /** SIGKILL, and waits for the exit. */
  kill(name: RoleName): Promise<void>;
  pause(name: RoleName): void;
  resume(name: RoleName): void;
  /** True if the role's process exited without being told to. */
  died(name: RoleName): boolean;
  stopAll(): Promise<void>;
}

export async function createTopology(options: TopologyOptions, shape?: ClusterShape): Promise<ChaosTopology> {
  if (options.kind === 'cluster') return ClusterTopology.create(options, shape);
  return Topology.create(options);
}

export interface TopologyOptions {
  kind: TopologyKind;
  dataDir: string;
  logDir: string;
  regionSize: string;
  segmentSize: string;
  leaseTimeoutMs: number;
}

const MAIN = path.join(__dirname, '..', 'cli', 'main.js');
const START_ATTEMPTS = 20;
const START_RETRY_MS = 500;

interface Role {
  name: RoleName;
  args: string[];
  running?: RunningRole<unknown>;
  paused: boolean;
  starts: number;
}

export class Topology implements ChaosTopology {
  private readonly roles = new Map<RoleName, Role>();
  /** Where Kafka clients bootstrap: the gateway of `rdmq start`, or the `rdmq gateway` apart. */
  kafka = '';
  /** The broker's control address, for the SDK (both brokers' for an HA group). */
  control = '';
  /** The HA group's etcd: started first, stopped last, never faulted. */
  private etcd: { dataDir: string; ports: { client: number; peer: number }; running?: RunningEtcd } | undefined;

  private constructor(readonly options: TopologyOptions) {}

  static async create(options: TopologyOptions): Promise<Topology> {
    const t = new Topology(options);
    const o = options;
    const at = async (): Promise<string> => `127.0.0.1:${await freeLoopbackPort()}`;
    const common = ['--durability', 'flush', '--region-size', o.regionSize, '--segment-size', o.segmentSize, '--lease-timeout-ms', String(o.leaseTimeoutMs), '--retention-check-ms', '600000'];
    if (o.kind === 'start') {
      const [control, fastpath, kafka, metrics] = [await at(), await at(), await at(), await at()];
      t.add('start', ['start', '--data', path.join(o.dataDir, 'start'), '--control', control, '--fastpath', fastpath, '--kafka', kafka, '--metrics', metrics, ...common]);
      t.kafka = kafka;
      t.control = control;
    } else if (o.kind === 'ha') {
      const ports = { client: await freeLoopbackPort(), peer: await freeLoopbackPort() };
      t.etcd = { dataDir: path.join(o.dataDir, 'etcd'), ports };
      const storageControl = await at();
      const controls = [await at(), await at()];
      t.add('storage', ['storage', '--data', path.join(o.dataDir, 'storage'), '--control', storageControl, '--fastpath', await at(), '--metrics', await at(), ...common]);
      for (const [i, name] of (['broker', 'broker2'] as const).entries()) {
        t.add(name, [
          'broker', '--etcd', `http://127.0.0.1:${ports.client}`, '--etcd-lease-ttl', '2', '--data', path.join(o.dataDir, name), '--storage', storageControl,
          '--control', controls[i], '--fastpath', await at(), '--kafka', await at(), '--metrics', await at(), ...common,
        ]);
      }
      const kafka = await at();
      // Not 1: the standby broker's own gateway takes the lowest free id at the leader.
      t.add('gateway', ['gateway', '--control', controls.join(','), '--kafka', kafka, '--metrics', await at(), '--node-id', '100']);
      t.kafka = kafka;
      t.control = controls.join(',');
    } else {
      const storageControl = await at();
      const brokerControl = await at();
      t.add('storage', ['storage', '--data', path.join(o.dataDir, 'storage'), '--control', storageControl, '--fastpath', await at(), '--metrics', await at(), ...common]);
      t.add('broker', [
        'broker', '--data', path.join(o.dataDir, 'broker'), '--storage', storageControl, '--control', brokerControl,
        '--fastpath', await at(), '--kafka', await at(), '--metrics', await at(), ...common,
      ]);
      const kafka = await at();
      t.add('gateway', ['gateway', '--control', brokerControl, '--kafka', kafka, '--metrics', await at(), '--node-id', '1']);
      t.kafka = kafka;
      t.control = brokerControl;
    }
    return t;
  }

  private add(name: RoleName, args: string[]): void {
    this.roles.set(name, { name, args, paused: false, starts: 0 });
  }

  get roleNames(): RoleName[] {
    return [...this.roles.keys()];
  }

  async startAll(): Promise<void> {
    if (this.etcd && !this.etcd.running) this.etcd.running = await startEtcd(this.etcd.dataDir, this.etcd.ports);
    for (const name of this.roles.keys()) await this.start(name);
  }

  /** Starts a role (again, on its data directory); retries while its ports are still held. */
  async start(name: RoleName): Promise<void> {
    const role = this.roles.get(name)!;
    let lastError: unknown;
    for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
      try {
        const running = await startRole<unknown>([MAIN, ...role.args]);
        role.starts++;
        const log = fs.createWriteStream(path.join(this.options.logDir, `${name}.log`), { flags: 'a' });
        log.write(`--- start ${role.starts} (pid ${running.child.pid}) ${new Date().toISOString()}\n`);
        log.write(running.stderr());
        running.child.stderr!.pipe(log);
        role.running = running;
        role.paused = false;
        return;
      } catch (err) {
        lastError = err;
        await new Promise((resolve) => setTimeout(resolve, START_RETRY_MS));
      }
    }
    throw new Error(`rdmq ${name} did not start again after ${START_ATTEMPTS} attempts: ${(lastError as Error)?.message}`);
  }

  /** SIGKILL, and waits for the exit. */
  async kill(name: RoleName): Promise<void> {
    const role = this.roles.get(name)!;
    await role.running?.signal('SIGKILL');
    role.running = undefined;
    role.paused = false;
  }

  pause(name: RoleName): void {
    const role = this.roles.get(name)!;
    role.running?.child.kill('SIGSTOP');
    role.paused = true;
  }

  resume(name: RoleName): void {
    const role = this.roles.get(name)!;
    role.running?.child.kill('SIGCONT');
    role.paused = false;
  }

  /** True if the role's process exited without being told to. */
  died(name: RoleName): boolean {
    const child = this.roles.get(name)!.running?.child;
    return child !== undefined && (child.exitCode !== null || child.signalCode !== null);
  }

  /** SIGTERM every role (resumed first), gateway before broker before storage. */
  async stopAll(): Promise<void> {
    for (const name of [...this.roles.keys()].reverse()) {
      const role = this.roles.get(name)!;
      if (role.paused) this.resume(name);
      const running = role.running;
      if (!running) continue;
      const killer = setTimeout(() => running.child.kill('SIGKILL'), 15_000);
      await running.signal('SIGTERM');
      clearTimeout(killer);
      role.running = undefined;
    }
    await this.etcd?.running?.stop('SIGTERM');
    if (this.etcd) this.etcd.running = undefined;
  }
}
