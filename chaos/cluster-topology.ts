// The chaos topology "cluster": `rdmq cluster start` as an operator runs it
// (its own process, every member a process of its own on fixed ports from
// one base port), faults dealt to single members — storage nodes, brokers,
// gateways — by pid: SIGKILL then `rdmq cluster restart-member`, or
// SIGSTOP/SIGCONT. A member the launcher reports down without a fault of
// ours "died". The roles are the members by name, so with several brokers
// each is faulted in turn, the leader among them; "broker-leader" (the one
// that leads at that moment) is a name faults may use once brokers elect a
// leader on etcd — until then it is broker-0 (see resolve).
import * as fs from 'fs';
import * as path from 'path';
import { ClusterRun, freeBasePort, runCli } from '../bench/local-cluster';
import type { ChaosTopology, RoleName, TopologyOptions } from './topology';

const STOP_GRACE_MS = 30_000;

export interface ClusterShape {
  storageNodes: number;
  brokers: number;
  gateways: number;
}

/** Replication factor 3 over three storage nodes, two brokers on etcd, two gateways (issue 11's acceptance shape). */
export const CLUSTER_SHAPE_DEFAULT: ClusterShape = { storageNodes: 3, brokers: 2, gateways: 2 };

export class ClusterTopology implements ChaosTopology {
  kafka = '';
  control = '';
  private run?: ClusterRun;
  /** Members we killed or paused on purpose (so their exit is no surprise), by name. */
  private readonly downOnPurpose = new Set<string>();
  private readonly paused = new Map<string, number>();

  private constructor(
    readonly options: TopologyOptions,
    readonly shape: ClusterShape,
    private readonly basePort: number,
    readonly roleNames: RoleName[],
  ) {}

  static async create(options: TopologyOptions, shape: ClusterShape = CLUSTER_SHAPE_DEFAULT): Promise<ClusterTopology> {
    const names: RoleName[] = [
      ...Array.from({ length: shape.storageNodes }, (_, k) => `storage-${k}` as RoleName),
      ...Array.from({ length: shape.brokers }, (_, k) => `broker-${k}` as RoleName),
      ...Array.from({ length: shape.gateways }, (_, k) => `gateway-${k}` as RoleName),
    ];
    return new ClusterTopology(options, shape, await freeBasePort(), names);
  }

  private get dataDir(): string {
    return path.join(this.options.dataDir, 'cluster');
  }

  /** Starts the whole cluster (again, on the same data and ports). */
  async startAll(): Promise<void> {
    const o = this.options;
    this.run = await ClusterRun.start({
      dataDir: this.dataDir,
      basePort: this.basePort,
      ...this.shape,
      regionSize: o.regionSize,
      segmentSize: o.segmentSize,
      readyTimeoutMs: 120_000,
      extraArgs: ['--lease-timeout-ms', String(o.leaseTimeoutMs)],
    });
    this.kafka = this.run.bootstrap.join(',');
    this.control = this.run.control.join(',');
    this.downOnPurpose.clear();
    this.paused.clear();
    fs.appendFileSync(path.join(o.logDir, 'cluster.log'), `--- rdmq cluster start ${new Date().toISOString()}: bootstrap ${this.kafka} control ${this.control}\n`);
  }

  /** Brings a member back through the launcher, on its data directory and ports. */
  async start(name: RoleName): Promise<void> {
    await runCli(['restart-member', this.resolve(name), '--data', this.dataDir]);
    this.downOnPurpose.delete(this.resolve(name));
  }

  async kill(name: RoleName): Promise<void> {
    const member = this.member(this.resolve(name));
    this.downOnPurpose.add(member.name);
    this.paused.delete(member.name);
    if (member.pid === undefined) return;
    try {
      process.kill(member.pid, 'SIGKILL');
    } catch {
      return; // already gone
    }
    // The launcher sees the exit and marks the member down; wait for that so a restart finds it down.
    const deadline = Date.now() + 10_000;
    while (this.member(member.name).up && Date.now() < deadline) await sleep(50);
  }

  pause(name: RoleName): void {
    const member = this.member(this.resolve(name));
    if (member.pid === undefined) return;
    process.kill(member.pid, 'SIGSTOP');
    this.paused.set(member.name, member.pid);
  }

  resume(name: RoleName): void {
    const pid = this.paused.get(this.resolve(name));
    if (pid !== undefined) process.kill(pid, 'SIGCONT');
    this.paused.delete(this.resolve(name));
  }

  died(name: RoleName): boolean {
    const resolved = this.resolve(name);
    return !this.downOnPurpose.has(resolved) && !this.member(resolved).up;
  }

  async stopAll(): Promise<void> {
    if (!this.run) return;
    for (const pid of this.paused.values()) process.kill(pid, 'SIGCONT');
    this.paused.clear();
    const run = this.run;
    const killer = setTimeout(() => run.child.kill('SIGKILL'), STOP_GRACE_MS);
    await run.signal('SIGTERM');
    clearTimeout(killer);
    this.run = undefined;
  }

  private member(name: string): ReturnType<ClusterRun['member']> {
    if (!this.run) throw new Error('the cluster is not running');
    return this.run.member(name);
  }

  /**
   * "broker-leader" is whichever broker leads now. Until brokers elect a
   * leader (issue 11, HA on etcd) the only broker is broker-0.
   */
  private resolve(name: string): string {
    if (name !== 'broker-leader') return name;
    return 'broker-0';
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
