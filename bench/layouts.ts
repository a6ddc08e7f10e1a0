// The rdmq the bench starts for itself, in one of two layouts:
//   start   `rdmq start`: storage node, broker and gateway in one process;
//   apart   `rdmq storage` + `rdmq broker --storage` + `rdmq gateway --control`,
//           each its own process, as docker/compose.yml runs them (the broker
//           keeps a gateway of its own in its process, unused here; the bench's
//           Kafka clients go to the separate gateway, as compose's do).
// Either way the bench learns where to connect and which processes are the
// server, whose CPU it reports per GB.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { RunningRole, startCluster, startRole } from './cluster';
import type { ServerPids } from './cpu';

export type Layout = 'start' | 'apart';

export const LAYOUTS: Layout[] = ['start', 'apart'];

export interface LayoutOptions {
  durability: 'none' | 'flush' | 'sync';
  regionSize: string;
  segmentSize: string;
  /** --verify crc|framing for the broker. */
  verify?: string;
  /** Environment of every role (e.g. RDMQ_PUBLISH_TRACE for --breakdown). */
  env?: NodeJS.ProcessEnv;
  /** More flags for `rdmq start` (e.g. the SASL_SSL listener of --security sasl_ssl). */
  startArgs?: string[];
  /** --prefault-region for the storage node: its whole region faulted in before it is ready. */
  prefaultRegion?: boolean;
}

export interface StartedLayout {
  layout: Layout;
  control: string;
  /** The Kafka gateway the bench's Kafka clients use. */
  kafka: string;
  /** The gateway's metrics address (host:port). */
  gatewayMetrics: string;
  /** The server's processes for each door: their CPU is the server's (apart: by role). */
  serverPids: { fastpath: ServerPids; gateway: ServerPids };
  /** `rdmq start` only: each Kafka listener's port by name, and the secret beside its data (for `rdmq users`). */
  kafkaPorts?: Record<string, number>;
  clusterSecretFile?: string;
  stop(): Promise<void>;
}

/** `--layout start,apart` (repeatable, comma-separated) to the layouts, in the order given. */
export function parseLayouts(words: string[] | undefined): Layout[] {
  const given = (words ?? ['start']).flatMap((w) => w.split(',')).map((w) => w.trim()).filter((w) => w !== '');
  for (const w of given) if (!LAYOUTS.includes(w as Layout)) throw new Error(`unknown --layout ${w}; allowed: start, apart`);
  if (given.length === 0) throw new Error('--layout needs a value: start, apart or start,apart');
  return [...new Set(given)] as Layout[];
}

export async function startLayout(layout: Layout, o: LayoutOptions): Promise<StartedLayout> {
  if (layout === 'start') {
    const cluster = await startCluster({ durability: o.durability, regionSize: o.regionSize, segmentSize: o.segmentSize, env: o.env, extraArgs: [...(o.verify ? ['--verify', o.verify] : []), ...prefaultFlag(o), ...(o.startArgs ?? [])] });
    const pid = cluster.child.pid!;
    return {
      layout,
      control: cluster.control,
      kafka: cluster.kafka,
      gatewayMetrics: `127.0.0.1:${cluster.metricsPort}`,
      serverPids: { fastpath: [pid], gateway: [pid] },
      kafkaPorts: cluster.kafkaPorts,
      clusterSecretFile: cluster.clusterSecretFile,
      stop: () => cluster.stop(),
    };
  }
  return startRolesApart(o);
}

const prefaultFlag = (o: LayoutOptions): string[] => (o.prefaultRegion ? ['--prefault-region'] : []);

interface Ready {
  controlPort: number;
  fastpathPort: number;
  kafkaPort?: number;
  metricsPort: number;
}

const MAIN = path.join(__dirname, '..', 'cli', 'main.js');

async function startRolesApart(o: LayoutOptions): Promise<StartedLayout> {
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const dir = fs.mkdtempSync(path.join(base, 'rdmq-bench-apart-'));
  const loopback = '127.0.0.1:0';
  const started: RunningRole<Ready>[] = [];
  const stop = async (): Promise<void> => {
    // Clients first: the gateway, then the broker, then the storage node under them.
    for (const role of [...started].reverse()) await role.signal('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const storage = await startRole<Ready>(
      [MAIN, 'storage', '--data', path.join(dir, 'storage'), '--control', loopback, '--fastpath', loopback, '--metrics', loopback,
        '--durability', o.durability, '--region-size', o.regionSize, '--segment-size', o.segmentSize, ...prefaultFlag(o)],
      o.env,
    );
    started.push(storage);
    const broker = await startRole<Ready>(
      [MAIN, 'broker', '--storage', `127.0.0.1:${storage.ready.controlPort}`, '--data', path.join(dir, 'broker'), '--control', loopback, '--fastpath', loopback,
        '--metrics', loopback, '--kafka', loopback, '--durability', o.durability, '--segment-size', o.segmentSize, ...(o.verify ? ['--verify', o.verify] : [])],
      o.env,
    );
    started.push(broker);
    const control = `127.0.0.1:${broker.ready.controlPort}`;
    const gateway = await startRole<Ready>([MAIN, 'gateway', '--control', control, '--kafka', loopback, '--metrics', loopback], o.env);
    started.push(gateway);
    const [s, b, g] = [storage.child.pid!, broker.child.pid!, gateway.child.pid!];
    return {
      layout: 'apart',
      control,
      kafka: `127.0.0.1:${gateway.ready.kafkaPort}`,
      gatewayMetrics: `127.0.0.1:${gateway.ready.metricsPort}`,
      serverPids: { fastpath: { storage: s, broker: b }, gateway: { storage: s, broker: b, gateway: g } },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
