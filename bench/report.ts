// Benchmark results on disk: results.json (the measured points, the limits
// measured in the same run, latency histograms and series), results.md (a
// table) and the plots (plots.ts) as SVG and PNG.
import * as fs from 'fs';
import * as path from 'path';
import { drawPlots, runLabels, seriesName } from './plots';
import { formatSize, renderTable } from './sizes';
import { LatencySummary } from './latency';
import { CEILING_RUNS } from './limits';
import { Workload } from './workload';
import { Machine, machineLine } from './machine';
import type { ProcessCopyMBps } from './process-copy';

export interface ResultPoint {
  target: string;
  mode: string;
  client: string;
  /** Absent in results from before workloads existed: those are 'produce+consume'. */
  workload?: Workload;
  batchSize: number;
  partitions?: number;
  producers?: number;
  consumers?: number;
  /** Independent fast-path readers, each reading every partition (--fanout; absent: 1). consumerMBps counts them all. */
  fanout?: number;
  /** Absent when the workload has no measured producer phase (consume). */
  producerMBps?: number;
  /** Absent when the workload has no consumer phase (produce). */
  consumerMBps?: number;
  /** Publish latency, send until acknowledged (absent for kcat, which reports none). */
  latencyUs?: LatencySummary;
  /** End-to-end latency, produce until a consumer receives (e2e workload). */
  e2eLatencyUs?: LatencySummary;
  /** What was produced and what the consumers delivered between them (duplicates, missing: when offsets are visible). */
  records?: { produced: number; consumed?: number; duplicates?: number; missing?: number; consumedByReader?: number[] };
  memcpyMBps: number;
  tcpLoopbackMBps?: number;
  /** Fast-path points: one CMA copy between two processes, into a region (put) and out of it (get), the fast path's own ceiling on a host without an RDMA NIC (absent before session 38). */
  processCopyMBps?: ProcessCopyMBps;
  /** kcat's produce rate into a server that stores nothing (kcat points): the client's own ceiling here. */
  kcatCeilingMBps?: number;
  /** kcat's consume rate from a server that serves batches from memory (kcat points with a consumer phase). */
  kcatConsumeCeilingMBps?: number;
  /** kafkajs's consume rate from that server, which keeps a one-member group for it (kafkajs points with a consumer phase; absent before session 35). */
  kafkajsConsumeCeilingMBps?: number;
  /**
   * CPU seconds per GB produced and consumed in the measured phases: the
   * client side (this process, plus kcat processes as `clientChildren`) and
   * the rdmq server; with the roles apart, `serverByRole` gives each
   * process's share of `server` (absent before session 34).
   */
  cpuSecondsPerGB?: { client: number; server: number; clientChildren?: number; serverByRole?: Record<string, number> };
  /** How the started rdmq ran: 'start' (one process) or 'apart' (storage, broker, gateway); absent: start, or a given --control. */
  layout?: 'start' | 'apart';
  /** With --rounds N: which start of the layout (1..N) measured this point. */
  round?: number;
  /** Where the started cluster's topic lived: storage nodes and replication factor (absent: one node, no replication). */
  storageNodes?: number;
  replicationFactor?: number;
  /** Bytes the fast-path consumers read per replica (storage node fast-path address). */
  readBytesByReplica?: Record<string, number>;
  /** The same per independent reader (--fanout above 1). */
  readBytesByReader?: Record<string, number>[];
  /** The started cluster ran its members in network namespaces (UCX over TCP on veth pairs). */
  netns?: boolean;
}

export type LatencyKind = 'publish' | 'e2e';

export interface LatencyTrace {
  /** e.g. "fastpath 1M" */
  label: string;
  /** The target and client, e.g. "gateway (kafkajs)" (absent in older results). */
  series?: string;
  batchSize?: number;
  workload?: Workload;
  /** Absent in older results: those are 'publish'. */
  kind?: LatencyKind;
  /** [ms since start, µs] */
  overTime: [number, number][];
  /** [percentile 0..100, µs] */
  cdf: [number, number][];
  /** The whole HDR histogram, compressed base64 (HdrHistogram's V2 encoding). */
  histogram?: string;
}

export interface BenchResults {
  startedAt: string;
  machine: Machine;
  points: ResultPoint[];
  latency: LatencyTrace[];
  /** Seconds each door ran unrecorded before its first point (absent in older results: none). */
  warmupSeconds?: number;
  /** The started rdmq's region was faulted in before it was ready (--prefault-region). */
  prefaultRegion?: boolean;
}

/** "68% of 106 / 85% of 120": each side's rate against the client's own ceiling, where measured (kcat both sides, kafkajs reading). */
function clientCeilings(p: ResultPoint): string {
  const side = (mbps: number | undefined, ceiling: number | undefined): string => (ceiling === undefined ? '-' : `${pct(mbps, ceiling)} of ${ceiling.toFixed(0)}`);
  const consume = p.kcatConsumeCeilingMBps ?? p.kafkajsConsumeCeilingMBps;
  if (p.kcatCeilingMBps === undefined && consume === undefined) return '-';
  return `${side(p.producerMBps, p.kcatCeilingMBps)} / ${side(p.consumerMBps, consume)}`;
}

/** Keeps at most `max` evenly spaced samples of a series, always the maxima of each bucket so spikes stay visible. */
export function thin(series: [number, number][], max = 2000): [number, number][] {
  if (series.length <= max) return series;
  const bucket = Math.ceil(series.length / max);
  const out: [number, number][] = [];
  for (let i = 0; i < series.length; i += bucket) {
    let peak = series[i];
    for (let j = i; j < Math.min(series.length, i + bucket); j++) if (series[j][1] > peak[1]) peak = series[j];
    out.push(peak);
  }
  return out;
}

export { seriesName };

const pct = (a: number | undefined, b: number | undefined): string => (a !== undefined && b ? `${((a / b) * 100).toFixed(0)}%` : '-');
const mbps = (v: number | undefined): string => (v === undefined ? '-' : v.toFixed(0));
const latency = (l: LatencySummary | undefined): string => (l ? [l.p50, l.p99, l.p999, l.max].map((v) => v.toFixed(0)).join(' / ') : '-');
const shape = (p: ResultPoint): string => `${p.producers ?? 1} / ${p.consumers ?? 1}${(p.fanout ?? 1) > 1 ? ` ×${p.fanout} readers` : ''} / ${p.partitions ?? 1}`;

/** The fast path is bounded by memcpy, a Kafka-protocol door by TCP loopback. */
function limitOf(p: ResultPoint): { mbps: number | undefined; name: string } {
  return p.target === 'fastpath' ? { mbps: p.memcpyMBps, name: 'memcpy' } : { mbps: p.tcpLoopbackMBps, name: 'TCP' };
}

/** Beside the fast path's memcpy limit: one copy between processes (CMA) each way, as puts and gets move bytes without an RDMA NIC. */
function processCopy(p: ResultPoint): string {
  return p.processCopyMBps ? `; CMA put ${p.processCopyMBps.put.toFixed(0)} / get ${p.processCopyMBps.get.toFixed(0)}` : '';
}

function cpu(p: ResultPoint): string {
  if (!p.cpuSecondsPerGB) return '-';
  const { client, server, clientChildren, serverByRole } = p.cpuSecondsPerGB;
  const children = clientChildren ? ` (kcat ${clientChildren.toFixed(2)})` : '';
  const roles = serverByRole ? ` (${Object.entries(serverByRole).map(([role, seconds]) => `${role} ${seconds.toFixed(2)}`).join(', ')})` : '';
  return `${client.toFixed(2)}${children} / ${server.toFixed(2)}${roles}`;
}

function tableRow(p: ResultPoint): string[] {
  const limit = limitOf(p);
  return [
    p.layout ?? '-',
    p.target,
    p.client,
    p.workload ?? 'produce+consume',
    p.mode,
    formatSize(p.batchSize),
    shape(p),
    mbps(p.producerMBps),
    mbps(p.consumerMBps),
    limit.mbps === undefined ? '-' : `${limit.mbps.toFixed(0)} (${limit.name})${processCopy(p)}`,
    pct(p.producerMBps, limit.mbps),
    pct(p.consumerMBps, limit.mbps),
    clientCeilings(p),
    latency(p.latencyUs),
    latency(p.e2eLatencyUs),
    cpu(p),
  ];
}

const HEADER = ['layout', 'target', 'client', 'workload', 'mode', 'batch', 'prod / cons / parts', 'producer MB/s', 'consumer MB/s', 'limit MB/s', 'producer / limit', 'consumer / limit', 'client ceiling MB/s: producer / consumer', 'publish µs p50 / p99 / p99.9 / max', 'e2e µs p50 / p99 / p99.9 / max', 'CPU s per GB client / server'];

export function markdownTable(points: ResultPoint[]): string {
  return [`| ${HEADER.join(' | ')} |`, `|${HEADER.map(() => '---').join('|')}|`, ...points.map((p) => `| ${tableRow(p).join(' | ')} |`)].join('\n') + '\n';
}

export function textTable(points: ResultPoint[]): string {
  const header = ['layout', 'target', 'client', 'workload', 'mode', 'batch', 'P/C/parts', 'prod MB/s', 'cons MB/s', 'limit MB/s', 'prod/limit', 'cons/limit', 'client ceiling prod/cons', 'publish us p50/p99/p99.9/max', 'e2e us p50/p99/p99.9/max', 'CPU s/GB client/server'];
  return renderTable(header, points.map(tableRow));
}

/** One row of the layouts' comparison: a door, batch size and workload, its median MB/s under each layout. */
export interface LayoutComparisonRow {
  target: string;
  client: string;
  workload: string;
  mode: string;
  batchSize: number;
  /** Points behind each median (one per round). */
  rounds: number;
  producer?: { start: number; apart: number; ratio: number };
  consumer?: { start: number; apart: number; ratio: number };
}

/** Within this fraction of rdmq start's figure, the roles apart count as level with it (issue 13's goal). */
export const LAYOUTS_LEVEL_WITHIN = 0.1;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Every door measured under both layouts: the median of its rounds under
 * each, and apart over start. Rows measured under one layout only are left out.
 */
export function layoutComparison(points: ResultPoint[]): LayoutComparisonRow[] {
  const groups = new Map<string, { start: ResultPoint[]; apart: ResultPoint[] }>();
  for (const p of points) {
    if (p.layout !== 'start' && p.layout !== 'apart') continue;
    const key = JSON.stringify([p.target, p.client, p.workload ?? 'produce+consume', p.mode, p.batchSize, shape(p)]);
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { start: [], apart: [] }));
    group[p.layout].push(p);
  }
  const rows: LayoutComparisonRow[] = [];
  for (const { start, apart } of groups.values()) {
    if (start.length === 0 || apart.length === 0) continue;
    const first = start[0];
    const side = (of: (p: ResultPoint) => number | undefined): LayoutComparisonRow['producer'] => {
      const s = start.map(of).filter((v): v is number => v !== undefined);
      const a = apart.map(of).filter((v): v is number => v !== undefined);
      if (s.length === 0 || a.length === 0) return undefined;
      const [ms, ma] = [median(s), median(a)];
      return { start: ms, apart: ma, ratio: ma / ms };
    };
    rows.push({
      target: first.target,
      client: first.client,
      workload: first.workload ?? 'produce+consume',
      mode: first.mode,
      batchSize: first.batchSize,
      rounds: Math.min(start.length, apart.length),
      producer: side((p) => p.producerMBps),
      consumer: side((p) => p.consumerMBps),
    });
  }
  return rows;
}

const COMPARISON_HEADER = ['target', 'client', 'workload', 'batch', 'rounds', 'producer MB/s start / apart', 'apart / start', 'consumer MB/s start / apart', 'apart / start'];

function comparisonRow(r: LayoutComparisonRow): string[] {
  const pair = (side: LayoutComparisonRow['producer']): string[] => (side ? [`${mbps(side.start)} / ${mbps(side.apart)}`, ratioText(side.ratio)] : ['-', '-']);
  return [r.target, r.client, r.workload, formatSize(r.batchSize), String(r.rounds), ...pair(r.producer), ...pair(r.consumer)];
}

/** apart / start, marked below the line; with a third decimal where two would read as the line itself (0.898 is not 0.90). */
function ratioText(ratio: number): string {
  const line = 1 - LAYOUTS_LEVEL_WITHIN;
  if (ratio >= line) return ratio.toFixed(2);
  const shown = ratio.toFixed(2) === line.toFixed(2) ? ratio.toFixed(3) : ratio.toFixed(2);
  return `${shown} (below ${line.toFixed(2)})`;
}

/** The comparison as text (empty when no door ran under both layouts). */
export function layoutComparisonText(points: ResultPoint[]): string {
  const rows = layoutComparison(points);
  return rows.length === 0 ? '' : `the roles apart beside rdmq start (median of each layout's rounds):\n${renderTable(COMPARISON_HEADER, rows.map(comparisonRow))}\n`;
}

function layoutComparisonMarkdown(points: ResultPoint[]): string {
  const rows = layoutComparison(points);
  if (rows.length === 0) return '';
  return (
    `\n## The roles apart beside rdmq start\n\nEach figure is the median of its layout's rounds (--rounds; the layouts started alternately); "below 0.90" marks a row where the roles apart fall more than ${LAYOUTS_LEVEL_WITHIN * 100}% short.\n\n` +
    [`| ${COMPARISON_HEADER.join(' | ')} |`, `|${COMPARISON_HEADER.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${comparisonRow(r).join(' | ')} |`)].join('\n') +
    '\n'
  );
}

/** What each plot shows, for results.md. */
const PLOT_TITLES: Record<string, string> = {
  'producer-throughput': 'producer throughput',
  'consumer-throughput': 'consumer throughput',
  'latency-over-time': 'latency over time',
  'latency-cdf': 'latency by percentile',
  'compare-kafka': 'rdmq vs Apache Kafka',
};

/** results.json, the plots and results.md (which shows the plots drawn); returns the plots' paths without extension. */
export async function writeResults(dir: string, results: BenchResults): Promise<string[]> {
  fs.mkdirSync(dir, { recursive: true });
  // Indented for people, but each [x, y] pair of a series on one line: a third of the size.
  const json = JSON.stringify(results, null, 2).replace(/\[\s+(-?[\d.e+-]+),\s+(-?[\d.e+-]+)\s+\]/g, '[$1, $2]');
  fs.writeFileSync(path.join(dir, 'results.json'), json + '\n');
  const plots = await drawPlots(dir, [{ results }]);
  fs.writeFileSync(
    path.join(dir, 'results.md'),
    `# rdmq bench, ${results.startedAt}\n\n${machineLine(results.machine)}\n` +
      `Limits measured in the same run: single-thread memcpy into a /dev/shm region (fast path) and TCP loopback between two processes (Kafka protocol).\n` +
      `Beside memcpy, the fast path's rows give one single-thread copy between two processes by the kernel (CMA, process_vm_readv into a prefaulted region for a put, process_vm_writev out of it for a get) of one batch: how the storage node moves a client's bytes on its host without an RDMA NIC, and what each such copy costs its CPU. It is one thread's rate: a producer's puts in flight, and a consumer's gets (many batches each, in parts), are copied on several of the node's threads at once, so a row can pass it.\n` +
      `The client ceilings (kcat producing into a server that stores nothing, kcat and kafkajs reading from one that serves batches from memory, in Fetch answers no larger than the gateway's) are the median of ${CEILING_RUNS} runs each, the reads' after one untimed read of the same server.\n` +
      `Workloads: produce+consume = producers alone, then consumers alone over what they wrote; e2e = both at once, end-to-end latency = consumer receive time minus produce time.\n` +
      (results.prefaultRegion === undefined ? '' : results.prefaultRegion ? `The rdmq the bench started faulted its whole region in before it was ready (--prefault-region): the figures are a running node's, not a fresh page's first touch.\n` : `The rdmq the bench started did not fault its region in first (--prefault-region no): writes and reads paid each fresh page's first touch.\n`) +
      (results.warmupSeconds ? `Each door first ran ${results.warmupSeconds} s unrecorded (producing, then reading back), so its process's JIT had compiled the hot path.\n` : '') +
      `Latency percentiles come from HDR histograms (3 significant digits). CPU s per GB count the bytes produced plus consumed; the client side includes kcat's processes; the server side is every rdmq process (apart: storage node and broker, plus the gateway for gateway rows).\n` +
      `Fast-path clients: "sdk raw batches" = producer.write of one prebuilt batch and eachRawBatch (batch bytes); "sdk send/eachMessage" = send() of records and eachMessage (value bytes).\n\n` +
      markdownTable(results.points) +
      layoutComparisonMarkdown(results.points) +
      '\n' +
      plots.map((file) => `![${PLOT_TITLES[path.basename(file)] ?? path.basename(file)}](${path.basename(file)}.png)\n`).join(''),
  );
  return plots;
}

/** `rdmq bench report DIR [DIR…]`: redraws saved runs, side by side when there are several. */
export async function reportCommand(dirs: string[], out?: string): Promise<void> {
  if (dirs.length === 0) throw new Error('bench report needs at least one results directory');
  const saved = dirs.map((dir) => JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')) as BenchResults);
  const labels = runLabels(dirs, saved);
  const runs = saved.map((results, i) => ({ label: dirs.length > 1 ? labels[i] : undefined, results }));
  const target = out ?? dirs[0];
  fs.mkdirSync(target, { recursive: true });
  const files = await drawPlots(target, runs);
  for (const run of runs) process.stdout.write(`${run.label ?? dirs[0]}\n${textTable(run.results.points)}\n${layoutComparisonText(run.results.points)}\n`);
  process.stdout.write(`plots: ${files.map((f) => `${f}.png`).join(', ')}\n`);
}
