// Several `rdmq storage` nodes and one `rdmq broker --storage A,B,...` for
// replication tests, each its own process on fixed ports, so a killed storage
// node can be restarted where it was.
import * as fs from 'fs';
import * as path from 'path';
import { freeLoopbackPort, RunningRole, startRole } from '../../bench/cluster';
import { configureControlPlane, ensureClusterSecret } from '../../control-plane';
import { SegmentDescriptor, StorageClient } from '../../storage-node';

const MAIN = path.join(__dirname, '..', 'main.js');

interface Ready {
  controlPort: number;
  fastpathPort: number;
  metricsPort: number;
  kafkaPort?: number;
}

export interface ReplicatedOptions {
  storageNodes: number;
  defaultReplicationFactor: number;
  segmentSize?: string;
  leaseTimeoutMs?: number;
  /** Each storage node's --scrub-rate (the default otherwise). */
  scrubRate?: string;
}

export class ReplicatedRoles {
  readonly storages: (RunningRole<Ready> | undefined)[] = [];
  broker!: RunningRole<Ready>;

  private constructor(
    readonly dir: string,
    private readonly options: ReplicatedOptions,
    private readonly ports: { storage: { control: number; fastpath: number }[]; control: number; fastpath: number; kafka: number },
  ) {}

  static async start(options: ReplicatedOptions): Promise<ReplicatedRoles> {
    const storage = [];
    for (let i = 0; i < options.storageNodes; i++) storage.push({ control: await freeLoopbackPort(), fastpath: await freeLoopbackPort() });
    const ports = { storage, control: await freeLoopbackPort(), fastpath: await freeLoopbackPort(), kafka: await freeLoopbackPort() };
    const roles = new ReplicatedRoles(fs.mkdtempSync(path.join('/dev/shm', 'rdmq-replicated-')), options, ports);
    // The roles share a secret of their own; this process proves it too (segmentsByNode asks the storage nodes directly).
    configureControlPlane({ clusterSecret: ensureClusterSecret(roles.secretFile) });
    try {
      for (let i = 0; i < options.storageNodes; i++) await roles.startStorage(i);
      await roles.startBroker();
    } catch (err) {
      await roles.stop();
      throw err;
    }
    return roles;
  }

  get secretFile(): string {
    return path.join(this.dir, 'cluster-secret');
  }

  /** Starts (or restarts, on its data and ports) storage node `i`. */
  async startStorage(i: number): Promise<void> {
    const { control, fastpath } = this.ports.storage[i];
    this.storages[i] = await startRole<Ready>([
      MAIN, 'storage', '--data', path.join(this.dir, `storage-${i}`), '--control', `127.0.0.1:${control}`,
      '--fastpath', `127.0.0.1:${fastpath}`, '--metrics', '127.0.0.1:0', '--durability', 'flush',
      '--region-size', '64M', '--segment-size', this.options.segmentSize ?? '1M', '--cluster-secret-file', this.secretFile,
      ...(this.options.scrubRate === undefined ? [] : ['--scrub-rate', this.options.scrubRate]),
    ]);
  }

  async startBroker(): Promise<void> {
    const { control, fastpath, kafka } = this.ports;
    this.broker = await startRole<Ready>([
      MAIN, 'broker', '--storage', this.storageControls().join(','), '--default-replication-factor', String(this.options.defaultReplicationFactor),
      '--data', path.join(this.dir, 'broker'), '--control', `127.0.0.1:${control}`, '--fastpath', `127.0.0.1:${fastpath}`,
      '--metrics', '127.0.0.1:0', '--kafka', `127.0.0.1:${kafka}`, '--durability', 'flush',
      '--segment-size', this.options.segmentSize ?? '1M', '--lease-timeout-ms', String(this.options.leaseTimeoutMs ?? 1500),
      '--cluster-secret-file', this.secretFile,
    ]);
  }

  async killStorage(i: number): Promise<void> {
    await this.storages[i]?.signal('SIGKILL');
    this.storages[i] = undefined;
  }

  /** Storage node `i`'s region file. */
  regionPath(i: number): string {
    return path.join(this.dir, `storage-${i}`, 'region');
  }

  storageControls(): string[] {
    return this.ports.storage.map((p) => `127.0.0.1:${p.control}`);
  }

  /** The segments each running storage node holds (index → descriptors); undefined for a node that is down. */
  async segmentsByNode(): Promise<(SegmentDescriptor[] | undefined)[]> {
    return Promise.all(
      this.storageControls().map(async (address, i) => {
        if (!this.storages[i]) return undefined;
        const client = new StorageClient(address);
        try {
          return await client.describe();
        } finally {
          client.close();
        }
      }),
    );
  }

  get kafka(): string {
    return `127.0.0.1:${this.ports.kafka}`;
  }

  get control(): string {
    return `127.0.0.1:${this.ports.control}`;
  }

  async stop(): Promise<void> {
    await this.broker?.signal('SIGTERM');
    for (const s of this.storages) await s?.signal('SIGTERM');
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
