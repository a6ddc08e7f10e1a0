// npm run chaos [-- --rounds N --seconds S --seed X --faults kill,pause --topology start,apart ...]
// Prints a line per round and a one-line summary; exits 1 on any anomaly, stall or final-read error.
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { CHAOS_DEFAULTS, FaultKind, runChaos } from './run';
import type { TopologyKind } from './topology';
import { CLUSTER_SHAPE_DEFAULT } from './cluster-topology';

const USAGE = `usage: npm run chaos -- [--rounds N] [--seconds S] [--seed N] [--faults kill,pause] [--topology start,apart,ha,cluster]
                        [--storage-nodes N] [--brokers M] [--gateways G]   (the cluster topology: rdmq cluster start; default 3, 2, 2)
                        [--roles PREFIX,...]   deal faults only to these roles (e.g. gateway, storage, broker)
                        [--rate RECORDS_PER_S_PER_PRODUCER] [--kafka-consumers N] [--lease-timeout-ms MS]
                        [--recovery-timeout-ms MS] [--partitions N] [--region-size SIZE] [--segment-size SIZE] [--out DIR] [--keep-data]`;

function fail(message: string): never {
  process.stderr.write(`chaos: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) fail(`--${name} must be a positive integer, got ${value}`);
  return n;
}

function list<T extends string>(name: string, value: string | undefined, allowed: T[], fallback: T[]): T[] {
  if (value === undefined) return fallback;
  const items = value.split(',').map((s) => s.trim()) as T[];
  const bad = items.filter((i) => !allowed.includes(i));
  if (bad.length > 0 || items.length === 0) fail(`--${name} allows ${allowed.join(', ')}; got ${value}`);
  return [...new Set(items)];
}

/** A size as the roles take it (e.g. 256M, 1G); they check it themselves. */
function size(name: string, value: string | undefined, fallback: string): string {
  if (value === undefined) return fallback;
  if (!/^\d+[KMGkmg]?$/.test(value)) fail(`--${name} takes a size such as 256M or 1G, got ${value}`);
  return value;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string' },
      seconds: { type: 'string' },
      seed: { type: 'string' },
      faults: { type: 'string' },
      topology: { type: 'string' },
      'storage-nodes': { type: 'string' },
      brokers: { type: 'string' },
      gateways: { type: 'string' },
      roles: { type: 'string' },
      rate: { type: 'string' },
      'kafka-consumers': { type: 'string' },
      'lease-timeout-ms': { type: 'string' },
      'recovery-timeout-ms': { type: 'string' },
      partitions: { type: 'string' },
      'region-size': { type: 'string' },
      'segment-size': { type: 'string' },
      out: { type: 'string' },
      'keep-data': { type: 'boolean' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0) fail(`--seed must be a non-negative integer, got ${values.seed}`);
  const d = CHAOS_DEFAULTS;
  const result = await runChaos({
    ...d,
    rounds: positiveInt('rounds', values.rounds, d.rounds),
    seconds: positiveInt('seconds', values.seconds, d.seconds),
    seed,
    faults: list<FaultKind>('faults', values.faults, ['kill', 'pause'], d.faults),
    topologies: list<TopologyKind>('topology', values.topology, ['start', 'apart', 'ha', 'cluster'], d.topologies),
    cluster: {
      storageNodes: positiveInt('storage-nodes', values['storage-nodes'], CLUSTER_SHAPE_DEFAULT.storageNodes),
      brokers: positiveInt('brokers', values.brokers, CLUSTER_SHAPE_DEFAULT.brokers),
      gateways: positiveInt('gateways', values.gateways, CLUSTER_SHAPE_DEFAULT.gateways),
    },
    faultRoles: values.roles === undefined ? undefined : values.roles.split(',').map((r) => r.trim()).filter((r) => r !== ''),
    recordsPerSecond: positiveInt('rate', values.rate, d.recordsPerSecond),
    kafkaConsumers: positiveInt('kafka-consumers', values['kafka-consumers'], d.kafkaConsumers),
    leaseTimeoutMs: positiveInt('lease-timeout-ms', values['lease-timeout-ms'], d.leaseTimeoutMs),
    recoveryTimeoutMs: positiveInt('recovery-timeout-ms', values['recovery-timeout-ms'], d.recoveryTimeoutMs),
    partitions: positiveInt('partitions', values.partitions, d.partitions),
    regionSize: size('region-size', values['region-size'], d.regionSize),
    segmentSize: size('segment-size', values['segment-size'], d.segmentSize),
    outDir: values.out ?? path.join(os.tmpdir(), `rdmq-chaos-${new Date().toISOString().replace(/[:.]/g, '-')}`),
    keepData: values['keep-data'] === true,
    log: (line) => process.stdout.write(`${line}\n`),
  });
  process.stdout.write(`${result.summary}\n`);
  process.stdout.write(`details: ${result.historyFile}\n`);
  process.exitCode = result.valid ? 0 : 1;
}

main().catch((err) => {
  process.stderr.write(`chaos: ${(err as Error)?.stack ?? err}\n`);
  process.exit(2);
});
