// An HA broker group for tests, each member its own process: etcd (from
// /usr/bin/etcd, data in /dev/shm), `rdmq storage`, two `rdmq broker --etcd`
// and `rdmq gateway --control A,B`. Ports are fixed for the group's life, so
// a restarted or resumed member is found where it was.
import * as fs from 'fs';
import * as path from 'path';
import { Etcd3 } from 'etcd3';
import { freeLoopbackPort, RunningEtcd, RunningRole, startEtcd, startRole } from '../../bench/cluster';

const MAIN = path.join(__dirname, '..', 'main.js');
const PREFIX = '/rdmq-test';

interface Ready {
  controlPort: number;
  kafkaPort?: number;
}

export interface HaGroupOptions {
  leaseTimeoutMs?: number;
  etcdLeaseTtlS?: number;
  /** Fixed metrics ports per broker (default: any free one). */
  brokerMetricsPorts?: [number, number];
}

export class HaGroup {
  etcd: RunningEtcd | undefined;
  storage!: RunningRole<Ready>;
  readonly brokers: (RunningRole<Ready> | undefined)[] = [undefined, undefined];
  gateway!: RunningRole<Ready>;
  private etcdClient: Etcd3 | undefined;

  private constructor(
    readonly dir: string,
    private readonly options: HaGroupOptions,
    readonly ports: {
      etcdClient: number;
      etcdPeer: number;
      storageControl: number;
      storageFastpath: number;
      control: number[];
      fastpath: number[];
      kafka: number[];
      gatewayKafka: number;
    },
  ) {}

  /** `firstBrokerEnv`: the environment of broker 0, the first leader (fault injection). */
  static async start(options: HaGroupOptions = {}, firstBrokerEnv: NodeJS.ProcessEnv = {}): Promise<HaGroup> {
    const port = freeLoopbackPort;
    const ports = {
      etcdClient: await port(),
      etcdPeer: await port(),
      storageControl: await port(),
      storageFastpath: await port(),
      control: [await port(), await port()],
      fastpath: [await port(), await port()],
      kafka: [await port(), await port()],
      gatewayKafka: await port(),
    };
    const group = new HaGroup(fs.mkdtempSync(path.join('/dev/shm', 'rdmq-ha-')), options, ports);
    try {
      await group.startEtcd();
      group.storage = await startRole<Ready>([
        MAIN, 'storage', '--data', path.join(group.dir, 'storage'), '--control', `127.0.0.1:${ports.storageControl}`,
        '--fastpath', `127.0.0.1:${ports.storageFastpath}`, '--metrics', '127.0.0.1:0', '--durability', 'flush',
        '--region-size', '64M', '--segment-size', '1M',
      ]);
      await group.startBroker(0, firstBrokerEnv);
      await group.waitForLeader();
      await group.startBroker(1);
      group.gateway = await startRole<Ready>([MAIN, 'gateway', '--control', group.control, '--kafka', `127.0.0.1:${ports.gatewayKafka}`, '--metrics', '127.0.0.1:0']);
    } catch (err) {
      await group.stop();
      throw err;
    }
    return group;
  }

  get etcdUrl(): string {
    return `http://127.0.0.1:${this.ports.etcdClient}`;
  }

  /** Both brokers' control addresses, as clients are given them. */
  get control(): string {
    return this.ports.control.map((p) => `127.0.0.1:${p}`).join(',');
  }

  /** Every Kafka door: the gateway's and both brokers'. */
  get kafka(): string[] {
    return [this.ports.gatewayKafka, ...this.ports.kafka].map((p) => `127.0.0.1:${p}`);
  }

  /** Starts (or restarts, on its data and ports) etcd. */
  async startEtcd(): Promise<void> {
    this.etcd = await startEtcd(path.join(this.dir, 'etcd'), { client: this.ports.etcdClient, peer: this.ports.etcdPeer });
  }

  async stopEtcd(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const etcd = this.etcd;
    this.etcd = undefined;
    await etcd?.stop(signal);
  }

  /** Starts (or restarts) broker `i` (0 or 1); `env` for fault injection. */
  async startBroker(i: number, env: NodeJS.ProcessEnv = {}): Promise<void> {
    this.brokers[i] = await startRole<Ready>([
      MAIN, 'broker', '--etcd', this.etcdUrl, '--etcd-prefix', PREFIX, '--etcd-lease-ttl', String(this.options.etcdLeaseTtlS ?? 2),
      '--storage', `127.0.0.1:${this.ports.storageControl}`, '--data', path.join(this.dir, `broker${i}`),
      '--control', `127.0.0.1:${this.ports.control[i]}`, '--fastpath', `127.0.0.1:${this.ports.fastpath[i]}`, '--kafka', `127.0.0.1:${this.ports.kafka[i]}`,
      '--metrics', `127.0.0.1:${this.options.brokerMetricsPorts?.[i] ?? 0}`, '--durability', 'flush', '--segment-size', '1M', '--lease-timeout-ms', String(this.options.leaseTimeoutMs ?? 1500),
    ], env);
  }

  controlOf(i: number): string {
    return `127.0.0.1:${this.ports.control[i]}`;
  }

  /** The leader as etcd names it: its index and epoch, or undefined. */
  async leader(): Promise<{ index: number; epoch: string } | undefined> {
    this.etcdClient ??= new Etcd3({ hosts: this.etcdUrl, dialTimeout: 1000, defaultCallOptions: (c) => (c.isStream ? {} : { deadline: Date.now() + 1000 }) });
    const raw = await this.etcdClient.get(`${PREFIX}/leader`).string();
    if (!raw) return undefined;
    const record = JSON.parse(raw) as { control: string; epoch: string };
    const index = this.ports.control.findIndex((p) => record.control.endsWith(`:${p}`));
    return record.epoch ? { index, epoch: record.epoch } : undefined;
  }

  /** Waits until a broker other than `not` leads in a term after `afterEpoch` and serves (its log says so); returns its index and the ms waited. */
  async waitForLeader(not?: number, afterEpoch = '0', timeoutMs = 20_000): Promise<{ index: number; epoch: string; waitedMs: number }> {
    const started = Date.now();
    for (;;) {
      const leader = await this.leader().catch(() => undefined);
      if (leader && leader.index !== not && leader.index >= 0 && BigInt(leader.epoch) > BigInt(afterEpoch)) {
        const broker = this.brokers[leader.index];
        if (broker && broker.stderr().includes(`serving as leader (epoch ${leader.epoch})`)) return { ...leader, waitedMs: Date.now() - started };
      }
      if (Date.now() - started > timeoutMs) throw new Error(`no broker${not === undefined ? '' : ` other than ${not}`} leads after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async stop(): Promise<void> {
    this.etcdClient?.close();
    await this.gateway?.signal('SIGTERM');
    for (const broker of this.brokers) {
      if (broker?.child.signalCode === null) broker.child.kill('SIGCONT');
      await broker?.signal('SIGKILL');
    }
    await this.storage?.signal('SIGTERM');
    await this.stopEtcd();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
