// Benchmark results on disk: results.json (the measured points, the limits
// measured in the same run, latency histograms and series), results.md (a
// table) and plots as SVG and PNG — throughput against batch size per target
// (log x, like the poster's figures), and publish and end-to-end latency over
// time and by percentile, one panel per batch size. Plots are drawn with
// Vega-Lite and rasterised with resvg.
import * as fs from 'fs';
import * as path from 'path';
import { formatSize, parseSize, renderTable } from './sizes';
import { LatencySummary } from './latency';
import { Workload } from './workload';

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
  /** Absent when the workload has no measured producer phase (consume). */
  producerMBps?: number;
  /** Absent when the workload has no consumer phase (produce). */
  consumerMBps?: number;
  /** Publish latency, send until acknowledged (absent for kcat, which reports none). */
  latencyUs?: LatencySummary;
  /** End-to-end latency, produce until a consumer receives (e2e workload). */
  e2eLatencyUs?: LatencySummary;
  /** What was produced and what the consumers delivered between them (duplicates, missing: when offsets are visible). */
  records?: { produced: number; consumed?: number; duplicates?: number; missing?: number };
  memcpyMBps: number;
  tcpLoopbackMBps?: number;
  /** kcat's produce rate into a server that stores nothing (kcat points): the client's own ceiling here. */
  kcatCeilingMBps?: number;
  /**
   * CPU seconds per GB produced and consumed in the measured phases: the
   * client side (this process, plus kcat processes as `clientChildren`) and
   * the rdmq server.
   */
  cpuSecondsPerGB?: { client: number; server: number; clientChildren?: number };
  /** Where the started cluster's topic lived: storage nodes and replication factor (absent: one node, no replication). */
  storageNodes?: number;
  replicationFactor?: number;
  /** Bytes the fast-path consumers read per replica (storage node fast-path address). */
  readBytesByReplica?: Record<string, number>;
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
  machine: { cpus: number; memoryBytes: number; node: string };
  points: ResultPoint[];
  latency: LatencyTrace[];
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

export function seriesName(target: string, client: string, mode: string): string {
  return target === 'fastpath' ? `fastpath (${mode})` : `${target} (${client})`;
}

const pct = (a: number | undefined, b: number | undefined): string => (a !== undefined && b ? `${((a / b) * 100).toFixed(0)}%` : '-');
const mbps = (v: number | undefined): string => (v === undefined ? '-' : v.toFixed(0));
const latency = (l: LatencySummary | undefined): string => (l ? [l.p50, l.p99, l.p999, l.max].map((v) => v.toFixed(0)).join(' / ') : '-');
const shape = (p: ResultPoint): string => `${p.producers ?? 1} / ${p.consumers ?? 1} / ${p.partitions ?? 1}`;

/** The fast path is bounded by memcpy, a Kafka-protocol door by TCP loopback. */
function limitOf(p: ResultPoint): { mbps: number | undefined; name: string } {
  return p.target === 'fastpath' ? { mbps: p.memcpyMBps, name: 'memcpy' } : { mbps: p.tcpLoopbackMBps, name: 'TCP' };
}

function cpu(p: ResultPoint): string {
  if (!p.cpuSecondsPerGB) return '-';
  const { client, server, clientChildren } = p.cpuSecondsPerGB;
  const children = clientChildren ? ` (kcat ${clientChildren.toFixed(2)})` : '';
  return `${client.toFixed(2)}${children} / ${server.toFixed(2)}`;
}

function tableRow(p: ResultPoint): string[] {
  const limit = limitOf(p);
  return [
    p.target,
    p.client,
    p.workload ?? 'produce+consume',
    p.mode,
    formatSize(p.batchSize),
    shape(p),
    mbps(p.producerMBps),
    mbps(p.consumerMBps),
    limit.mbps === undefined ? '-' : `${limit.mbps.toFixed(0)} (${limit.name})`,
    pct(p.producerMBps, limit.mbps),
    pct(p.consumerMBps, limit.mbps),
    p.kcatCeilingMBps === undefined ? '-' : `${pct(p.producerMBps, p.kcatCeilingMBps)} of ${p.kcatCeilingMBps.toFixed(0)}`,
    latency(p.latencyUs),
    latency(p.e2eLatencyUs),
    cpu(p),
  ];
}

const HEADER = ['target', 'client', 'workload', 'mode', 'batch', 'prod / cons / parts', 'producer MB/s', 'consumer MB/s', 'limit MB/s', 'producer / limit', 'consumer / limit', 'producer / kcat ceiling MB/s', 'publish µs p50 / p99 / p99.9 / max', 'e2e µs p50 / p99 / p99.9 / max', 'CPU s per GB client / server'];

export function markdownTable(points: ResultPoint[]): string {
  return [`| ${HEADER.join(' | ')} |`, `|${HEADER.map(() => '---').join('|')}|`, ...points.map((p) => `| ${tableRow(p).join(' | ')} |`)].join('\n') + '\n';
}

export function textTable(points: ResultPoint[]): string {
  const header = ['target', 'client', 'workload', 'mode', 'batch', 'P/C/parts', 'prod MB/s', 'cons MB/s', 'limit MB/s', 'prod/limit', 'cons/limit', 'prod/kcat ceiling', 'publish us p50/p99/p99.9/max', 'e2e us p50/p99/p99.9/max', 'CPU s/GB client/server'];
  return renderTable(header, points.map(tableRow));
}

// vega and vega-lite ship as ES modules only; load them without TypeScript
// turning the import into require().
const importEsm = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<unknown>;

async function render(spec: object, file: string): Promise<void> {
  const vega = (await importEsm('vega')) as { View: new (runtime: unknown, opts: object) => { toSVG(): Promise<string> }; parse(spec: object): unknown };
  const vl = (await importEsm('vega-lite')) as { compile(spec: object): { spec: object } };
  const { Resvg } = await import('@resvg/resvg-js');
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  fs.writeFileSync(`${file}.svg`, svg);
  fs.writeFileSync(`${file}.png`, new Resvg(svg, { background: 'white', font: { loadSystemFonts: true }, fitTo: { mode: 'zoom', value: 2 } }).render().asPng());
}

function seriesLabel(p: ResultPoint, runLabel?: string): string {
  const extras = [p.workload === 'e2e' ? 'e2e' : undefined, (p.consumers ?? 1) > 1 ? `${p.consumers} consumers` : undefined].filter((e) => e !== undefined);
  const base = `${seriesName(p.target, p.client, p.mode)}${extras.length > 0 ? `, ${extras.join(', ')}` : ''}`;
  return runLabel ? `${base} — ${runLabel}` : base;
}

/** "1 partition, 1 producer, 1 consumer" when every point agrees; ranges otherwise. */
function describeShape(points: ResultPoint[]): string {
  const part = (values: number[], noun: string): string => {
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    return lo === hi ? `${lo} ${noun}${lo === 1 ? '' : 's'}` : `${lo}–${hi} ${noun}s`;
  };
  if (points.length === 0) return '';
  return [part(points.map((p) => p.partitions ?? 1), 'partition'), part(points.map((p) => p.producers ?? 1), 'producer'), part(points.map((p) => p.consumers ?? 1), 'consumer')].join(', ');
}

// tableau20: a comparison of runs easily has more than ten series.
const COLOR = (title: string) => ({ field: 'series', type: 'nominal', title, scale: { scheme: 'tableau20' }, legend: { labelLimit: 400, orient: 'bottom', columns: 2 } });

async function drawThroughput(dir: string, runs: { label?: string; results: BenchResults }[]): Promise<string[]> {
  const points = runs.flatMap(({ label, results }) => results.points.map((p) => ({ p, label })));
  // Each run measured its own limits: one dashed line per limit and run.
  const limitName = (name: string, label?: string): string => `${name} (limit)${label ? ` — ${label}` : ''}`;
  const limits = points.flatMap(({ p, label }) => [
    { series: limitName('memcpy into the region', label), batch: p.batchSize, mbps: p.memcpyMBps },
    ...(p.tcpLoopbackMBps ? [{ series: limitName('TCP loopback', label), batch: p.batchSize, mbps: p.tcpLoopbackMBps }] : []),
    ...(p.kcatCeilingMBps ? [{ series: limitName('kcat into a server that stores nothing', label), batch: p.batchSize, mbps: p.kcatCeilingMBps, producerOnly: true }] : []),
  ]);
  const written: string[] = [];
  for (const side of ['producer', 'consumer'] as const) {
    const measured = points.flatMap(({ p, label }) => {
      const value = side === 'producer' ? p.producerMBps : p.consumerMBps;
      return value === undefined ? [] : [{ series: seriesLabel(p, label), batch: p.batchSize, mbps: value }];
    });
    // Ticks at the measured batch sizes, so every point's size is labelled (the last one too).
    const ticks = [...new Set(points.map(({ p }) => p.batchSize))].sort((a, b) => a - b);
    const x = { field: 'batch', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'record batch size (bytes, log scale)', axis: { values: ticks, labelExpr: "datum.value >= 1048576 ? datum.value / 1048576 + ' MiB' : datum.value >= 1024 ? datum.value / 1024 + ' KiB' : datum.value + ' B'" } };
    // Log scale: kafkajs at tens of MB/s and memcpy at ~10 GB/s both stay readable.
    const y = { field: 'mbps', type: 'quantitative', scale: { type: 'log' }, title: 'throughput (MB/s, log scale)' };
    const file = path.join(dir, `${side}-throughput`);
    await render(
      {
        width: 560,
        height: 320,
        title: { text: `${side === 'producer' ? 'Producer' : 'Consumer'} throughput by batch size`, subtitle: `${describeShape(points.map(({ p }) => p))}; dashed: this machine's limits` },
        layer: [
          { data: { values: measured }, mark: { type: 'line', point: true }, encoding: { x, y, color: COLOR('target') } },
          { data: { values: side === 'producer' ? limits : limits.filter((l) => !('producerOnly' in l)) }, mark: { type: 'line', strokeDash: [4, 4] }, encoding: { x, y, color: COLOR('target') } },
        ],
      },
      file,
    );
    written.push(file);
  }
  return written;
}

const KIND_TITLES: Record<LatencyKind, string> = {
  publish: 'publish: send → acknowledged',
  e2e: 'end to end: produce → consumer receives',
};

interface TraceRow {
  series: string;
  batch: string;
  batchBytes: number;
  kind: string;
}

/** Trace metadata, also for results written before traces carried it ("fastpath 1M"). */
function traceRow(t: LatencyTrace, runLabel?: string): TraceRow {
  const words = t.label.split(' ');
  let batchBytes = t.batchSize;
  if (batchBytes === undefined) {
    try {
      batchBytes = parseSize(words[words.length - 1]);
    } catch {
      batchBytes = 0;
    }
  }
  const series = t.series ?? (t.batchSize === undefined ? words.slice(0, -1).join(' ') : t.label);
  return { series: runLabel ? `${series} — ${runLabel}` : series, batch: batchBytes ? `batch ${formatSize(batchBytes)}` : 'batch ?', batchBytes, kind: KIND_TITLES[t.kind ?? 'publish'] };
}

/**
 * The traces to draw: every end-to-end trace, and the publish latency of the
 * producer-only phase; publish latency measured during an e2e run only where
 * no producer-only phase was measured for the same series and batch.
 */
function tracesToDraw(runs: { label?: string; results: BenchResults }[]): { trace: LatencyTrace; row: TraceRow }[] {
  const all = runs.flatMap(({ label, results }) => results.latency.map((trace) => ({ trace, row: traceRow(trace, label) })));
  const producerOnly = new Set(all.filter(({ trace }) => (trace.kind ?? 'publish') === 'publish' && trace.workload !== 'e2e').map(({ row }) => `${row.series}|${row.batchBytes}`));
  return all.filter(({ trace, row }) => trace.kind === 'e2e' || trace.workload !== 'e2e' || !producerOnly.has(`${row.series}|${row.batchBytes}`));
}

/** Percentile p as "nines" (-log10(1 - p)): 90% is 1, 99% is 2, 99.9% is 3, so the tail gets room. */
const nines = (percentile: number): number => -Math.log10(1 - percentile / 100);
const NINES_LABELS = "datum.value == 0 ? '0%' : datum.value == 1 ? '90%' : datum.value == 2 ? '99%' : datum.value == 3 ? '99.9%' : datum.value == 4 ? '99.99%' : ''";
/** Beyond 99.99% a run of seconds has a handful of samples: the table gives the max. */
const NINES_SHOWN_PERCENTILE = 99.99;

async function drawLatency(dir: string, runs: { label?: string; results: BenchResults }[]): Promise<string[]> {
  const traces = tracesToDraw(runs);
  const overTime = traces.flatMap(({ trace, row }) => trace.overTime.map(([ms, us]) => ({ ...row, seconds: ms / 1000, us: Math.max(1, us) })));
  const byPercentile = traces.flatMap(({ trace, row }) => trace.cdf.filter(([p]) => p <= NINES_SHOWN_PERCENTILE).map(([p, us]) => ({ ...row, nines: nines(p), percentile: p, us: Math.max(1, us) })));
  // One column per kind of latency, one row per batch size: few lines per panel.
  const facet = {
    column: { field: 'kind', type: 'nominal', title: null, sort: Object.values(KIND_TITLES), header: { labelFontSize: 13, labelFontWeight: 'bold' } },
    row: { field: 'batch', type: 'nominal', title: null, sort: { field: 'batchBytes' }, header: { labelFontSize: 13 } },
  };
  const y = { field: 'us', type: 'quantitative', scale: { type: 'log' }, title: 'latency (µs, log scale)' };
  const overTimeFile = path.join(dir, 'latency-over-time');
  await render(
    {
      title: { text: 'Latency over time', subtitle: 'each point the worst of its time bucket' },
      data: { values: overTime },
      facet,
      spec: {
        width: 320,
        height: 170,
        mark: { type: 'line', strokeWidth: 1 },
        encoding: { x: { field: 'seconds', type: 'quantitative', title: 'time since the first send (s)' }, y, color: COLOR('target') },
      },
      resolve: { scale: { x: 'independent' } },
    },
    overTimeFile,
  );
  const cdfFile = path.join(dir, 'latency-cdf');
  await render(
    {
      title: { text: 'Latency by percentile (HDR histogram)', subtitle: 'x: percentile on a scale of nines; the max is in the table' },
      data: { values: byPercentile },
      facet,
      spec: {
        width: 320,
        height: 170,
        mark: { type: 'line' },
        encoding: {
          x: { field: 'nines', type: 'quantitative', title: 'percentile', scale: { domain: [0, 4] }, axis: { values: [0, 1, 2, 3, 4], labelExpr: NINES_LABELS, labelOverlap: false } },
          y,
          color: COLOR('target'),
          tooltip: [{ field: 'percentile' }, { field: 'us' }],
        },
      },
    },
    cdfFile,
  );
  return [overTimeFile, cdfFile];
}

/** Draws every plot for one or more runs into `dir`. */
export async function drawPlots(dir: string, runs: { label?: string; results: BenchResults }[]): Promise<string[]> {
  return [...(await drawThroughput(dir, runs)), ...(await drawLatency(dir, runs))];
}

/** results.json, results.md and the plots. */
export async function writeResults(dir: string, results: BenchResults): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  // Indented for people, but each [x, y] pair of a series on one line: a third of the size.
  const json = JSON.stringify(results, null, 2).replace(/\[\s+(-?[\d.e+-]+),\s+(-?[\d.e+-]+)\s+\]/g, '[$1, $2]');
  fs.writeFileSync(path.join(dir, 'results.json'), json + '\n');
  fs.writeFileSync(
    path.join(dir, 'results.md'),
    `# rdmq bench, ${results.startedAt}\n\n${results.machine.cpus} CPUs, ${(results.machine.memoryBytes / 1024 ** 3).toFixed(0)} GiB, Node ${results.machine.node}.\n` +
      `Limits measured in the same run: single-thread memcpy into a /dev/shm region (fast path) and TCP loopback between two processes (Kafka protocol).\n` +
      `Workloads: produce+consume = producers alone, then consumers alone over what they wrote; e2e = both at once, end-to-end latency = consumer receive time minus produce time.\n` +
      `Latency percentiles come from HDR histograms (3 significant digits). CPU s per GB count the bytes produced plus consumed; the client side includes kcat's processes.\n\n` +
      markdownTable(results.points) +
      `\n![producer throughput](producer-throughput.png)\n![consumer throughput](consumer-throughput.png)\n![latency over time](latency-over-time.png)\n![latency by percentile](latency-cdf.png)\n`,
  );
  await drawPlots(dir, [{ results }]);
}

/** `rdmq bench report DIR [DIR…]`: redraws saved runs, side by side when there are several. */
export async function reportCommand(dirs: string[], out?: string): Promise<void> {
  if (dirs.length === 0) throw new Error('bench report needs at least one results directory');
  const runs = dirs.map((dir) => ({ label: dirs.length > 1 ? path.basename(path.resolve(dir)) : undefined, results: JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')) as BenchResults }));
  const target = out ?? dirs[0];
  fs.mkdirSync(target, { recursive: true });
  const files = await drawPlots(target, runs);
  for (const run of runs) process.stdout.write(`${run.label ?? dirs[0]}\n${textTable(run.results.points)}\n\n`);
  process.stdout.write(`plots: ${files.map((f) => `${f}.png`).join(', ')}\n`);
}
