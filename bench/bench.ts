// rdmq bench — one harness for every door. Each run also measures the
// machine's own limits (memcpy into a region, TCP loopback between two
// processes) and reports every figure as a ratio to its limit.
//
//   rdmq bench --target fastpath [--control HOST:PORT] [--batch-sizes 8K,64K,1M,8M]
//              [--bytes 2G] [--record-size 1K] [--mode exclusive|shared]
//              [--staging-depth 8] [--commit-every 1] [--commit-delay-us 0]
//              [--durability none|flush|sync] [--max-seconds 20] [--json FILE]
import * as fs from 'fs';
import { parseArgs } from 'util';
import { ClusterProcess, startCluster } from './cluster';
import { runFastPathPoint } from './fastpath-target';
import { measureMemcpyMBps } from './limits';
import { formatSize, parseSize, renderTable } from './sizes';
import { LatencySummary } from './stats';

export interface BenchPoint {
  target: string;
  mode: string;
  client: string;
  batchSize: number;
  producerMBps: number;
  consumerMBps: number;
  latencyUs: LatencySummary;
  memcpyMBps: number;
}

const HELP = `rdmq bench --target fastpath [options]
  --control HOST:PORT      an existing rdmq (default: start one in a temporary directory on /dev/shm)
  --batch-sizes LIST       record batch sizes (default 8K,64K,1M,8M)
  --bytes SIZE             bytes to produce per batch size (default 2G)
  --record-size SIZE       value bytes per record (default 1K)
  --mode exclusive|shared  producer mode (default exclusive)
  --staging-depth N        batches between stage and commit at once (default 8)
  --commit-every N         commit after N batches (default 1)
  --commit-delay-us US     ... or after US microseconds (default 0)
  --durability LEVEL       for the embedded cluster: none|flush|sync (default flush)
  --max-seconds S          cap on each producer phase (default 20)
  --json FILE              write the measured points as JSON`;

function progressBar(label: string): (done: number, total: number) => void {
  let last = 0;
  return (done, total) => {
    const now = Date.now();
    if (!process.stderr.isTTY || now - last < 100) return;
    last = now;
    const width = 30;
    const filled = Math.round((done / total) * width);
    process.stderr.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${((done / total) * 100).toFixed(0)}%`);
  };
}

export async function runBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      target: { type: 'string', multiple: true },
      control: { type: 'string' },
      'batch-sizes': { type: 'string' },
      bytes: { type: 'string' },
      'record-size': { type: 'string' },
      mode: { type: 'string' },
      'staging-depth': { type: 'string' },
      'commit-every': { type: 'string' },
      'commit-delay-us': { type: 'string' },
      durability: { type: 'string' },
      'max-seconds': { type: 'string' },
      json: { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  const targets = values.target ?? ['fastpath'];
  for (const t of targets) if (t !== 'fastpath') throw new Error(`unknown --target ${t}; allowed: fastpath`);
  const sizes = (values['batch-sizes'] ?? '8K,64K,1M,8M').split(',').map(parseSize);
  const totalBytes = parseSize(values.bytes ?? '2G');
  const recordBytes = parseSize(values['record-size'] ?? '1K');
  const mode = values.mode ?? 'exclusive';
  if (mode !== 'exclusive' && mode !== 'shared') throw new Error(`--mode must be exclusive or shared, got ${mode}`);
  const durability = values.durability ?? 'flush';
  if (!['none', 'flush', 'sync'].includes(durability)) throw new Error(`--durability must be none, flush or sync, got ${durability}`);
  const positiveInt = (name: string, text: string | undefined, dflt: number): number => {
    const v = text === undefined ? dflt : Number(text);
    if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} must be a non-negative integer, got ${text}`);
    return v;
  };
  const maxSegmentBatch = Math.max(...sizes);

  let cluster: ClusterProcess | undefined;
  let control = values.control;
  if (control === undefined) {
    // Room for one batch size at a time (topics are deleted between sizes) plus open segments.
    const segment = Math.max(64 << 20, 2 ** Math.ceil(Math.log2(maxSegmentBatch + 8192)));
    const region = Math.ceil((Math.min(totalBytes, 8 * 1024 ** 3) * 1.2 + 4 * segment) / segment) * segment + 8192;
    process.stderr.write(`starting an embedded rdmq (region ${formatSize(region)}, segments ${formatSize(segment)}, durability ${durability}) ...\n`);
    cluster = await startCluster({ durability: durability as 'none' | 'flush' | 'sync', regionSize: String(region), segmentSize: String(segment) });
    control = cluster.control;
  }
  const points: BenchPoint[] = [];
  try {
    for (const batchBytes of sizes) {
      const label = `fastpath ${formatSize(batchBytes).padStart(4)}`;
      const point = await runFastPathPoint({
        control,
        batchBytes,
        recordBytes,
        totalBytes,
        maxSeconds: Number(values['max-seconds'] ?? 20),
        mode,
        stagingDepth: Math.max(1, positiveInt('staging-depth', values['staging-depth'], 8)),
        commitEveryBatches: Math.max(1, positiveInt('commit-every', values['commit-every'], 1)),
        commitDelayUs: positiveInt('commit-delay-us', values['commit-delay-us'], 0),
        onProgress: progressBar(label),
      });
      if (process.stderr.isTTY) process.stderr.write('\n');
      const memcpyMBps = measureMemcpyMBps(batchBytes);
      points.push({ target: 'fastpath', mode, client: 'rdmq-sdk', batchSize: batchBytes, producerMBps: point.producerMBps, consumerMBps: point.consumerMBps, latencyUs: point.latencyUs, memcpyMBps });
      process.stderr.write(`${label}: produced ${formatSize(point.producedBytes)}\n`);
    }
  } finally {
    await cluster?.stop();
  }
  const pct = (a: number, b: number): string => `${((a / b) * 100).toFixed(0)}%`;
  process.stdout.write(
    renderTable(
      ['target', 'mode', 'batch', 'prod MB/s', 'cons MB/s', 'memcpy MB/s', 'prod/memcpy', 'cons/memcpy', 'p50 us', 'p99 us', 'p99.9 us'],
      points.map((p) => [p.target, p.mode, formatSize(p.batchSize), p.producerMBps, p.consumerMBps, p.memcpyMBps, pct(p.producerMBps, p.memcpyMBps), pct(p.consumerMBps, p.memcpyMBps), p.latencyUs.p50, p.latencyUs.p99, p.latencyUs.p999]),
    ) + '\n',
  );
  if (values.json) {
    fs.writeFileSync(values.json, JSON.stringify(points.map(({ client: _client, ...rest }) => rest), null, 2) + '\n');
  }
}
