// Benchmark results on disk: results.json (the measured points, the limits
// measured in the same run, latency series), results.md (a table) and plots
// as SVG and PNG — throughput against batch size per target (log x, like the
// poster's figures), publish latency over time, and its CDF. Plots are drawn
// with Vega-Lite and rasterised with resvg.
import * as fs from 'fs';
import * as path from 'path';
import { formatSize, renderTable } from './sizes';
import { LatencySummary } from './stats';

export interface ResultPoint {
  target: string;
  mode: string;
  client: string;
  batchSize: number;
  producerMBps: number;
  consumerMBps: number;
  latencyUs: LatencySummary;
  memcpyMBps: number;
  tcpLoopbackMBps?: number;
  /**
   * CPU seconds per GB produced and consumed: the benchmark process (the SDK or
   * kafkajs; kcat runs in its own process, not counted) and the rdmq server.
   */
  cpuSecondsPerGB?: { client: number; server: number };
}

export interface LatencyTrace {
  /** e.g. "fastpath 1M" */
  label: string;
  /** [ms since start, µs] */
  overTime: [number, number][];
  /** [percentile 0..100, µs] */
  cdf: [number, number][];
}

export interface BenchResults {
  startedAt: string;
  machine: { cpus: number; memoryBytes: number; node: string };
  points: ResultPoint[];
  latency: LatencyTrace[];
}

/** A CDF of at most ~200 points from raw samples. */
export function cdfOf(samplesUs: number[]): [number, number][] {
  if (samplesUs.length === 0) return [];
  const sorted = Float64Array.from(samplesUs).sort();
  const out: [number, number][] = [];
  const steps = Math.min(200, sorted.length);
  for (let i = 0; i < steps; i++) {
    const q = i / (steps - 1 || 1);
    out.push([Math.round(q * 10000) / 100, sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1)))]]);
  }
  return out;
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

const pct = (a: number, b: number | undefined): string => (b ? `${((a / b) * 100).toFixed(0)}%` : '-');

export function markdownTable(points: ResultPoint[]): string {
  const header = ['target', 'client', 'mode', 'batch', 'producer MB/s', 'consumer MB/s', 'memcpy MB/s', 'TCP loopback MB/s', 'prod/limit', 'cons/limit', 'p50 µs', 'p99 µs', 'p99.9 µs', 'CPU s/GB client', 'CPU s/GB server'];
  const rows = points.map((p) => {
    // The fast path is bounded by memcpy, a Kafka-protocol door by TCP loopback.
    const limit = p.target === 'fastpath' ? p.memcpyMBps : p.tcpLoopbackMBps;
    return [p.target, p.client, p.mode, formatSize(p.batchSize), p.producerMBps.toFixed(0), p.consumerMBps.toFixed(0), p.memcpyMBps.toFixed(0), p.tcpLoopbackMBps?.toFixed(0) ?? '-', pct(p.producerMBps, limit), pct(p.consumerMBps, limit), String(p.latencyUs.p50), String(p.latencyUs.p99), String(p.latencyUs.p999), p.cpuSecondsPerGB?.client.toFixed(2) ?? '-', p.cpuSecondsPerGB?.server.toFixed(2) ?? '-'];
  });
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n') + '\n';
}

export function textTable(points: ResultPoint[]): string {
  return renderTable(
    ['target', 'client', 'mode', 'batch', 'prod MB/s', 'cons MB/s', 'memcpy MB/s', 'tcp MB/s', 'prod/limit', 'cons/limit', 'p50 us', 'p99 us', 'p99.9 us'],
    points.map((p) => {
      const limit = p.target === 'fastpath' ? p.memcpyMBps : p.tcpLoopbackMBps;
      return [p.target, p.client, p.mode, formatSize(p.batchSize), p.producerMBps, p.consumerMBps, p.memcpyMBps, p.tcpLoopbackMBps ?? '-', pct(p.producerMBps, limit), pct(p.consumerMBps, limit), p.latencyUs.p50, p.latencyUs.p99, p.latencyUs.p999];
    }),
  );
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
  const base = p.target === 'fastpath' ? `fastpath (${p.mode})` : `${p.target} (${p.client})`;
  return runLabel ? `${base} — ${runLabel}` : base;
}

/** Draws every plot for one or more runs into `dir`. */
export async function drawPlots(dir: string, runs: { label?: string; results: BenchResults }[]): Promise<string[]> {
  const throughput = runs.flatMap(({ label, results }) =>
    results.points.flatMap((p) => [
      { series: seriesLabel(p, label), batch: p.batchSize, side: 'producer', mbps: p.producerMBps },
      { series: seriesLabel(p, label), batch: p.batchSize, side: 'consumer', mbps: p.consumerMBps },
    ]),
  );
  const limits = runs.flatMap(({ results }) =>
    results.points.flatMap((p) => [
      { series: 'memcpy into the region (limit)', batch: p.batchSize, mbps: p.memcpyMBps },
      ...(p.tcpLoopbackMBps ? [{ series: 'TCP loopback (limit)', batch: p.batchSize, mbps: p.tcpLoopbackMBps }] : []),
    ]),
  );
  const written: string[] = [];
  for (const side of ['producer', 'consumer']) {
    const file = path.join(dir, `${side}-throughput`);
    await render(
      {
        width: 560,
        height: 320,
        title: `${side === 'producer' ? 'Producer' : 'Consumer'} throughput by batch size (1 partition)`,
        layer: [
          {
            data: { values: throughput.filter((t) => t.side === side) },
            mark: { type: 'line', point: true },
            encoding: {
              x: { field: 'batch', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'record batch size (bytes, log scale)' },
              y: { field: 'mbps', type: 'quantitative', title: 'throughput (MB/s)' },
              color: { field: 'series', type: 'nominal', title: 'target', legend: { labelLimit: 400 } },
            },
          },
          {
            data: { values: limits },
            mark: { type: 'line', strokeDash: [4, 4] },
            encoding: {
              x: { field: 'batch', type: 'quantitative', scale: { type: 'log', base: 2 } },
              y: { field: 'mbps', type: 'quantitative' },
              color: { field: 'series', type: 'nominal', title: 'target', legend: { labelLimit: 400 } },
            },
          },
        ],
      },
      file,
    );
    written.push(file);
  }
  const traces = runs.flatMap(({ label, results }) => results.latency.map((t) => ({ ...t, label: label ? `${t.label} — ${label}` : t.label })));
  const overTime = traces.flatMap((t) => t.overTime.map(([ms, us]) => ({ series: t.label, seconds: ms / 1000, us })));
  const cdf = traces.flatMap((t) => t.cdf.map(([p, us]) => ({ series: t.label, percentile: p, us })));
  const latencyFile = path.join(dir, 'latency-over-time');
  await render(
    {
      width: 560,
      height: 320,
      title: 'Publish latency over time (send to commit acknowledged)',
      data: { values: overTime },
      mark: { type: 'line', strokeWidth: 1 },
      encoding: {
        x: { field: 'seconds', type: 'quantitative', title: 'time since start of the run (s)' },
        y: { field: 'us', type: 'quantitative', scale: { type: 'log' }, title: 'latency (µs, log scale)' },
        color: { field: 'series', type: 'nominal', title: 'target and batch', legend: { labelLimit: 400 } },
      },
    },
    latencyFile,
  );
  written.push(latencyFile);
  const cdfFile = path.join(dir, 'latency-cdf');
  await render(
    {
      width: 560,
      height: 320,
      title: 'Publish latency CDF',
      data: { values: cdf },
      mark: { type: 'line' },
      encoding: {
        x: { field: 'us', type: 'quantitative', scale: { type: 'log' }, title: 'latency (µs, log scale)' },
        y: { field: 'percentile', type: 'quantitative', title: 'percentile (%)' },
        color: { field: 'series', type: 'nominal', title: 'target and batch', legend: { labelLimit: 400 } },
      },
    },
    cdfFile,
  );
  written.push(cdfFile);
  return written;
}

/** results.json, results.md and the plots. */
export async function writeResults(dir: string, results: BenchResults): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  fs.writeFileSync(
    path.join(dir, 'results.md'),
    `# rdmq bench, ${results.startedAt}\n\n${results.machine.cpus} CPUs, ${(results.machine.memoryBytes / 1024 ** 3).toFixed(0)} GiB, Node ${results.machine.node}.\n` +
      `Limits measured in the same run: single-thread memcpy into a /dev/shm region (fast path) and TCP loopback between two processes (Kafka protocol).\n\n` +
      markdownTable(results.points) +
      `\n![producer throughput](producer-throughput.png)\n![consumer throughput](consumer-throughput.png)\n![latency over time](latency-over-time.png)\n![latency CDF](latency-cdf.png)\n`,
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
