// The benchmark's plots, drawn with Vega-Lite and rasterised with resvg (SVG
// and PNG): throughput by batch size per door (log x, like the poster's
// figures), latency over time and by percentile, and — when the runs hold
// both — rdmq against Apache Kafka, one panel per door.
//
// Read at a glance: a series keeps its colour in every run (a fixed palette
// by name), limits are dashed in the plot and in the legend, no colour is
// used twice in one plot, and legend labels are never cut.
import * as fs from 'fs';
import * as path from 'path';
import { formatSize, parseSize } from './sizes';
import type { BenchResults, LatencyKind, LatencyTrace, ResultPoint } from './report';

export interface Run {
  /** Names the run in legends when several are drawn together (see runLabels). */
  label?: string;
  results: BenchResults;
}

export function seriesName(target: string, client: string, mode: string, layout?: string): string {
  // Older results name the fast path's one client 'rdmq-sdk'; newer ones tell raw batches from send()/eachMessage.
  const door = target === 'fastpath' ? (client === 'rdmq-sdk' ? `fastpath (${mode})` : `fastpath ${client} (${mode})`) : `${target} (${client})`;
  return layout ? `${door}, ${layout}` : door;
}

const LIMIT_NAMES = {
  memcpy: 'memcpy into the region (limit)',
  tcp: 'TCP loopback (limit)',
  processCopy: 'one put: a copy between processes, CMA, one thread (limit)',
  kcatCeiling: 'kcat against a server that stores nothing (limit)',
  kafkajsCeiling: 'kafkajs reading from a server that serves from memory (limit)',
} as const;

/**
 * Each door and limit has its colour, the same in every run and plot; hues
 * far apart, so no two series read as one (tableau10 order, minus its
 * light/dark pairs).
 */
const FIXED_COLOURS: Record<string, string> = {
  'fastpath (shared)': '#1f77b4', // blue
  'fastpath (exclusive)': '#9467bd', // purple
  'gateway (kafkajs)': '#ff7f0e', // orange
  'gateway (kcat)': '#2ca02c', // green
  'kafka (kafkajs)': '#d62728', // red
  'kafka (kcat)': '#8c564b', // brown
  [LIMIT_NAMES.memcpy]: '#7f7f7f', // grey
  [LIMIT_NAMES.tcp]: '#222222', // black
  [LIMIT_NAMES.kcatCeiling]: '#e377c2', // pink
  [LIMIT_NAMES.kafkajsCeiling]: '#bcbd22', // olive
  [LIMIT_NAMES.processCopy]: '#0b5394', // navy
};
/** For series outside the fixed palette (other clients, a second run of the same door): used once each per plot. */
const SPARE_COLOURS = ['#17becf', '#bcbd22', '#e6ab02', '#1b9e77', '#7570b3', '#a6761d', '#e7298a', '#66a61e', '#0b5394', '#990000', '#38761d', '#b45f06', '#674ea7', '#4c1130', '#134f5c', '#7f6000'];
const DASH = { solid: [1, 0], limit: [6, 4] };

export interface SeriesStyle {
  colour: string;
  dash: number[];
}

/**
 * Colours for a plot's series, `base` being the door or limit a series
 * shows (its fixed colour when it is the first series of that base).
 */
export function styleSeries(series: { name: string; base: string; limit: boolean }[]): Map<string, SeriesStyle> {
  const styles = new Map<string, SeriesStyle>();
  const used = new Set<string>();
  const spare = SPARE_COLOURS.filter((c) => !Object.values(FIXED_COLOURS).includes(c));
  for (const s of series) {
    if (styles.has(s.name)) continue;
    const fixed = FIXED_COLOURS[s.base];
    const colour = fixed !== undefined && !used.has(fixed) ? fixed : (spare.find((c) => !used.has(c)) ?? '#000000');
    used.add(colour);
    styles.set(s.name, { colour, dash: s.limit ? DASH.limit : DASH.solid });
  }
  return styles;
}

/** Color and dash both by series: one legend whose symbols are dashed where the lines are. */
function seriesEncoding(styles: Map<string, SeriesStyle>, title: string | null) {
  const domain = [...styles.keys()];
  const legend = { title, orient: 'bottom', direction: 'vertical', columns: 1, labelLimit: 0, symbolType: 'stroke', symbolStrokeWidth: 2.5, symbolSize: 300, labelFontSize: 11 };
  return {
    color: { field: 'series', type: 'nominal', scale: { domain, range: domain.map((s) => styles.get(s)!.colour) }, legend },
    strokeDash: { field: 'series', type: 'nominal', scale: { domain, range: domain.map((s) => styles.get(s)!.dash) }, legend },
  };
}

// vega and vega-lite ship as ES modules only; load them without TypeScript
// turning the import into require().
const importEsm = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<unknown>;

async function render(spec: object, file: string): Promise<void> {
  const vega = (await importEsm('vega')) as { View: new (runtime: unknown, opts: object) => { toSVG(): Promise<string> }; parse(spec: object): unknown };
  const vl = (await importEsm('vega-lite')) as { compile(spec: object): { spec: object } };
  const { Resvg } = await import('@resvg/resvg-js');
  const view = new vega.View(vega.parse(vl.compile({ config: { font: 'DejaVu Sans' }, ...spec }).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  fs.writeFileSync(`${file}.svg`, svg);
  fs.writeFileSync(`${file}.png`, new Resvg(svg, { background: 'white', font: { loadSystemFonts: true }, fitTo: { mode: 'zoom', value: 2 } }).render().asPng());
}

/** The workload a point or trace was measured in, for the point shape: a produce+consume run and an e2e run of one door are two lines. */
function variantOf(p: { workload?: string; consumers?: number; fanout?: number }): string {
  const workload = p.workload === 'e2e' ? 'e2e (produce and consume at once)' : p.workload === undefined || p.workload === 'produce+consume' ? 'produce, then consume' : p.workload;
  const consumers = (p.consumers ?? 1) > 1 ? `${workload}, ${p.consumers} consumers` : workload;
  return (p.fanout ?? 1) > 1 ? `${consumers}, fanout ${p.fanout}` : consumers;
}

const withRun = (name: string, runLabel?: string): string => (runLabel ? `${name} — ${runLabel}` : name);

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

const SIZE_LABEL = "datum.value >= 1048576 ? datum.value / 1048576 + ' MiB' : datum.value >= 1024 ? datum.value / 1024 + ' KiB' : datum.value + ' B'";

/**
 * Log x over the measured batch sizes, with room beyond the first and last
 * so their markers and labels are not cut at the edges; one size alone sits
 * in the middle of a range twice as wide each way.
 */
function batchAxis(batches: number[]) {
  const ticks = [...new Set(batches)].sort((a, b) => a - b);
  const domain = ticks.length === 1 ? [ticks[0] / 2, ticks[0] * 2] : [ticks[0] / 1.4, ticks[ticks.length - 1] * 1.4];
  return { field: 'batch', type: 'quantitative', scale: { type: 'log', base: 2, domain }, title: 'record batch size (bytes, log scale)', axis: { values: ticks, labelExpr: SIZE_LABEL } };
}

/** 1, 2, 5, 10, 20, 50, ... around the values: labelled grid lines, not a comb of minor ones. */
function logTicks(values: number[]): number[] {
  const lo = Math.min(...values) / 2;
  const hi = Math.max(...values) * 2;
  const ticks: number[] = [];
  for (let decade = 10 ** Math.floor(Math.log10(Math.max(lo, 1e-3))); decade <= hi; decade *= 10) {
    for (const m of [1, 2, 5]) if (decade * m >= lo && decade * m <= hi) ticks.push(Number((decade * m).toPrecision(1)));
  }
  return ticks;
}

interface Row {
  series: string;
  variant?: string;
  batch: number;
  mbps: number;
}

async function drawThroughput(dir: string, runs: Run[]): Promise<string[]> {
  const points = runs.flatMap(({ label, results }) => results.points.map((p) => ({ p, label })));
  const batches = points.map(({ p }) => p.batchSize);
  const single = new Set(batches).size === 1;
  const written: string[] = [];
  for (const side of ['producer', 'consumer'] as const) {
    const measured: Row[] = [];
    const limits: Row[] = [];
    const series: { name: string; base: string; limit: boolean }[] = [];
    for (const { p, label } of points) {
      const value = side === 'producer' ? p.producerMBps : p.consumerMBps;
      if (value === undefined) continue;
      const base = seriesName(p.target, p.client, p.mode, p.layout);
      series.push({ name: withRun(base, label), base, limit: false });
      measured.push({ series: withRun(base, label), variant: variantOf(p), batch: p.batchSize, mbps: value });
    }
    // Each run measured its own limits: one dashed line per limit and run, drawn beside the doors it bounds.
    for (const { p, label } of points) {
      const bounds: [string, number | undefined][] = [
        [LIMIT_NAMES.memcpy, p.target === 'fastpath' ? p.memcpyMBps : undefined],
        // One put's copy, on one thread; a consumer's gets take many batches each, in parts, so the batch's copy says little about them.
        [LIMIT_NAMES.processCopy, side === 'producer' ? p.processCopyMBps?.put : undefined],
        [LIMIT_NAMES.tcp, p.target !== 'fastpath' ? p.tcpLoopbackMBps : undefined],
        [LIMIT_NAMES.kcatCeiling, side === 'producer' ? p.kcatCeilingMBps : p.kcatConsumeCeilingMBps],
        [LIMIT_NAMES.kafkajsCeiling, side === 'consumer' ? p.kafkajsConsumeCeilingMBps : undefined],
      ];
      for (const [base, mbps] of bounds) {
        if (mbps === undefined) continue;
        const name = withRun(base, label);
        if (limits.some((l) => l.series === name && l.batch === p.batchSize)) continue;
        series.push({ name, base, limit: true });
        limits.push({ series: name, batch: p.batchSize, mbps });
      }
    }
    const styles = styleSeries(series);
    const encoding = seriesEncoding(styles, null);
    const x = batchAxis(batches);
    // Log scale: kafkajs at tens of MB/s and memcpy at ~10 GB/s both stay readable.
    const y = { field: 'mbps', type: 'quantitative', scale: { type: 'log' }, title: 'throughput (MB/s, log scale)', axis: { values: logTicks([...measured, ...limits].map((r) => r.mbps)) } };
    // The workload legend only when there is a choice to tell apart, beside the series legend.
    const variants = new Set(measured.map((r) => r.variant)).size;
    const shape = { field: 'variant', type: 'nominal', title: 'workload', legend: variants > 1 ? { orient: 'right', direction: 'vertical', labelLimit: 0 } : null };
    const file = path.join(dir, `${side}-throughput`);
    await render(
      {
        width: 600,
        height: 340,
        title: { text: `${side === 'producer' ? 'Producer' : 'Consumer'} throughput by batch size`, subtitle: `${describeShape(points.map(({ p }) => p))}; dashed: this machine's limits, measured in the same run` },
        layer: [
          {
            data: { values: measured },
            mark: { type: 'line', strokeWidth: 2, point: { filled: true, size: single ? 120 : 50 } },
            // detail: each workload its own line, never a zig-zag between them.
            encoding: { x, y, ...encoding, shape, detail: { field: 'variant' } },
          },
          // With one batch size a limit is a level, drawn across the plot; with several it is a line through them.
          single
            ? { data: { values: limits }, mark: { type: 'rule', strokeWidth: 2 }, encoding: { y, ...encoding } }
            : { data: { values: limits }, mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y, ...encoding } },
        ],
        resolve: { legend: { shape: 'independent' } },
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
  base: string;
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
  const base = series.replace(/(, \d+ consumers)?(, fanout \d+)?$/, '');
  return { series: withRun(series, runLabel), base, batch: batchBytes ? `batch ${formatSize(batchBytes)}` : 'batch ?', batchBytes, kind: KIND_TITLES[t.kind ?? 'publish'] };
}

/**
 * The traces to draw: every end-to-end trace, and the publish latency of the
 * producer-only phase; publish latency measured during an e2e run only where
 * no producer-only phase was measured for the same series and batch.
 */
function tracesToDraw(runs: Run[]): { trace: LatencyTrace; row: TraceRow }[] {
  const all = runs.flatMap(({ label, results }) => results.latency.map((trace) => ({ trace, row: traceRow(trace, label) })));
  const producerOnly = new Set(all.filter(({ trace }) => (trace.kind ?? 'publish') === 'publish' && trace.workload !== 'e2e').map(({ row }) => `${row.series}|${row.batchBytes}`));
  return all.filter(({ trace, row }) => trace.kind === 'e2e' || trace.workload !== 'e2e' || !producerOnly.has(`${row.series}|${row.batchBytes}`));
}

/** Doors measured without a latency trace of `kind`, e.g. kcat, which reports no per-record acknowledgement. */
function doorsWithoutLatency(runs: Run[], traces: { trace: LatencyTrace; row: TraceRow }[], kind?: LatencyKind): string[] {
  const traced = new Set(traces.filter(({ trace }) => kind === undefined || (trace.kind ?? 'publish') === kind).map(({ row }) => row.base));
  const doors = runs.flatMap(({ results }) => results.points.filter((p) => kind !== 'e2e' || p.workload === 'e2e').map((p) => seriesName(p.target, p.client, p.mode, p.layout)));
  return [...new Set(doors)].filter((d) => !traced.has(d));
}

/** Percentile p as "nines" (-log10(1 - p)): 90% is 1, 99% is 2, 99.9% is 3, so the tail gets room. */
const nines = (percentile: number): number => -Math.log10(1 - percentile / 100);
const NINES_LABELS = "datum.value == 0 ? '0%' : datum.value == 1 ? '90%' : datum.value == 2 ? '99%' : datum.value == 3 ? '99.9%' : datum.value == 4 ? '99.99%' : ''";
/** Beyond 99.99% a run of seconds has a handful of samples: the table gives the max. */
const NINES_SHOWN_PERCENTILE = 99.99;

/** A plot with nothing to draw says why, instead of an empty canvas: one line per reason. */
function nothingToDraw(title: string, reasons: string[]) {
  return {
    width: 600,
    height: 40 + 20 * reasons.length,
    view: { stroke: null },
    title: { text: title },
    data: { values: [{ reasons }] },
    mark: { type: 'text', fontSize: 14, align: 'center', baseline: 'middle', lineHeight: 20 },
    encoding: { text: { field: 'reasons' }, x: { value: 300 }, y: { value: 20 + 10 * reasons.length } },
  };
}

/** Says which doors are missing from the latency plots, and why. */
function noLatencyNotes(runs: Run[], traces: { trace: LatencyTrace; row: TraceRow }[]): string[] {
  const none = doorsWithoutLatency(runs, traces);
  const noPublish = doorsWithoutLatency(runs, traces, 'publish').filter((d) => !none.includes(d));
  const isKcat = (d: string): boolean => d.endsWith('(kcat)');
  return [
    none.some(isKcat) ? `kcat reports no per-record latency: ${none.filter(isKcat).join(', ')} not drawn` : '',
    none.some((d) => !isKcat(d)) ? `no latency trace for ${none.filter((d) => !isKcat(d)).join(', ')}` : '',
    noPublish.some(isKcat) ? `kcat reports no per-record acknowledgement: ${noPublish.filter(isKcat).join(', ')} has end-to-end latency only` : '',
  ].filter((s) => s !== '');
}

async function drawLatency(dir: string, runs: Run[]): Promise<string[]> {
  const traces = tracesToDraw(runs);
  const notes = noLatencyNotes(runs, traces);
  const styles = styleSeries(traces.map(({ row }) => ({ name: row.series, base: row.base, limit: false })));
  const overTime = traces.flatMap(({ trace, row }) => trace.overTime.map(([ms, us]) => ({ ...row, seconds: ms / 1000, us: Math.max(1, us) })));
  const byPercentile = traces.flatMap(({ trace, row }) => trace.cdf.filter(([p]) => p <= NINES_SHOWN_PERCENTILE).map(([p, us]) => ({ ...row, nines: nines(p), percentile: p, us: Math.max(1, us) })));
  // One column per kind of latency, one row per batch size: few lines per panel.
  const facet = {
    column: { field: 'kind', type: 'nominal', title: null, sort: Object.values(KIND_TITLES), header: { labelFontSize: 13, labelFontWeight: 'bold' } },
    row: { field: 'batch', type: 'nominal', title: null, sort: { field: 'batchBytes' }, header: { labelFontSize: 13 } },
  };
  const y = { field: 'us', type: 'quantitative', scale: { type: 'log' }, title: 'latency (µs, log scale)', axis: { values: logTicks([...overTime, ...byPercentile].map((r) => r.us)) } };
  const { color } = seriesEncoding(styles, 'door');
  const subtitle = (text: string): string[] => [text, ...notes];
  const nothing = notes.length > 0 ? notes : ['no latency was measured'];
  const overTimeFile = path.join(dir, 'latency-over-time');
  await render(
    traces.length === 0
      ? nothingToDraw('Latency over time', nothing)
      : {
          title: { text: 'Latency over time', subtitle: subtitle('each point the worst of its time bucket') },
          data: { values: overTime },
          facet,
          spec: {
            width: 320,
            height: 170,
            mark: { type: 'line', strokeWidth: 1 },
            encoding: { x: { field: 'seconds', type: 'quantitative', title: 'time since the first send (s)' }, y, color },
          },
          resolve: { scale: { x: 'independent' } },
        },
    overTimeFile,
  );
  const cdfFile = path.join(dir, 'latency-cdf');
  await render(
    traces.length === 0
      ? nothingToDraw('Latency by percentile', nothing)
      : {
          title: { text: 'Latency by percentile (HDR histogram)', subtitle: subtitle('x: percentile on a scale of nines; the max is in the table') },
          data: { values: byPercentile },
          facet,
          spec: {
            width: 320,
            height: 170,
            mark: { type: 'line' },
            encoding: {
              x: { field: 'nines', type: 'quantitative', title: 'percentile', scale: { domain: [0, 4] }, axis: { values: [0, 1, 2, 3, 4], labelExpr: NINES_LABELS, labelOverlap: false } },
              y,
              color,
              tooltip: [{ field: 'percentile' }, { field: 'us' }],
            },
          },
        },
    cdfFile,
  );
  return [overTimeFile, cdfFile];
}

/** rdmq and Kafka, always these two colours in the comparison. */
const RDMQ_COLOUR = '#1f77b4';
const KAFKA_COLOUR = '#d62728';

interface ComparisonRow {
  door: string;
  side: string;
  who: 'rdmq' | 'Apache Kafka';
  batch: number;
  mbps: number;
}

/**
 * The points to compare, door by door: each Kafka client against rdmq's
 * gateway with the same client, and rdmq's fast path against the Kafka
 * client that did best at each batch size.
 */
export function comparisonRows(runs: Run[]): ComparisonRow[] {
  const points = runs.flatMap(({ results }) => results.points).filter((p) => (p.workload ?? 'produce+consume') === 'produce+consume' && (p.consumers ?? 1) === 1 && (p.fanout ?? 1) === 1);
  const kafka = points.filter((p) => p.target === 'kafka');
  if (kafka.length === 0) return [];
  const rows: ComparisonRow[] = [];
  for (const side of ['producer', 'consumer'] as const) {
    const value = (p: ResultPoint): number | undefined => (side === 'producer' ? p.producerMBps : p.consumerMBps);
    const push = (door: string, who: ComparisonRow['who'], p: ResultPoint, mbps = value(p)): void => {
      if (mbps !== undefined) rows.push({ door, side, who, batch: p.batchSize, mbps });
    };
    for (const client of [...new Set(kafka.map((p) => p.client))]) {
      const door = `Kafka protocol, ${client}`;
      const gateway = points.filter((p) => p.target === 'gateway' && p.client === client);
      if (gateway.length === 0) continue;
      for (const p of gateway) push(door, 'rdmq', p);
      for (const p of kafka.filter((k) => k.client === client)) push(door, 'Apache Kafka', p);
    }
    // The fast path has no Kafka twin: set its best mode against Kafka's best client, batch size by batch size.
    const best = (of: ResultPoint[], batch: number): number => Math.max(0, ...of.filter((p) => p.batchSize === batch).map((p) => value(p) ?? 0));
    const fast = points.filter((p) => p.target === 'fastpath');
    const door = 'rdmq fast path vs Kafka (its best client)';
    for (const batch of [...new Set(fast.map((p) => p.batchSize))].sort((a, b) => a - b)) {
      if (best(fast, batch) > 0) rows.push({ door, side, who: 'rdmq', batch, mbps: best(fast, batch) });
      if (best(kafka, batch) > 0) rows.push({ door, side, who: 'Apache Kafka', batch, mbps: best(kafka, batch) });
    }
  }
  return rows;
}

/** rdmq ÷ Kafka at every batch size both measured, placed at the higher of the two points. */
function ratioRows(rows: ComparisonRow[]): (ComparisonRow & { ratio: string })[] {
  const out: (ComparisonRow & { ratio: string })[] = [];
  for (const r of rows.filter((r) => r.who === 'rdmq')) {
    const k = rows.find((o) => o.who === 'Apache Kafka' && o.door === r.door && o.side === r.side && o.batch === r.batch);
    if (!k || k.mbps <= 0) continue;
    const ratio = r.mbps / k.mbps;
    out.push({ ...r, mbps: Math.max(r.mbps, k.mbps), ratio: `${ratio >= 10 ? ratio.toFixed(0) : ratio.toFixed(1)}×` });
  }
  return out;
}

/** rdmq against Apache Kafka: one panel per door and side, the two in fixed colours, rdmq ÷ Kafka written at each batch size. */
async function drawComparison(dir: string, runs: Run[]): Promise<string[]> {
  const rows = comparisonRows(runs);
  if (!rows.some((r) => r.who === 'rdmq')) return [];
  const batches = rows.map((r) => r.batch);
  const x = batchAxis(batches);
  const y = { field: 'mbps', type: 'quantitative', scale: { type: 'log' }, title: 'MB/s (log scale)', axis: { values: logTicks(rows.map((r) => r.mbps)) } };
  const legend = { title: null, orient: 'bottom', direction: 'horizontal', labelLimit: 0, symbolType: 'stroke', symbolStrokeWidth: 3, labelFontSize: 12 };
  const color = { field: 'who', type: 'nominal', scale: { domain: ['rdmq', 'Apache Kafka'], range: [RDMQ_COLOUR, KAFKA_COLOUR] }, legend };
  const labels = runs.filter((r) => r.label).map((r) => r.label!);
  const file = path.join(dir, 'compare-kafka');
  await render(
    {
      title: {
        text: 'rdmq vs Apache Kafka: throughput by door',
        subtitle: [`rdmq ÷ Kafka written above each batch size; ${describeShape(runs.flatMap((r) => r.results.points))}`, ...(labels.length > 0 ? [`runs: ${labels.join('; ')}`] : [])],
      },
      data: { values: [...rows.map((r) => ({ ...r, layer: 'point' })), ...ratioRows(rows).map((r) => ({ ...r, layer: 'ratio' }))] },
      facet: {
        row: { field: 'side', type: 'nominal', title: null, sort: ['producer', 'consumer'], header: { labelFontSize: 13, labelFontWeight: 'bold', labelExpr: "datum.value == 'producer' ? 'produce' : 'consume'" } },
        column: { field: 'door', type: 'nominal', title: null, header: { labelFontSize: 13, labelFontWeight: 'bold', labelLimit: 0 } },
      },
      spec: {
        width: 300,
        height: 200,
        layer: [
          { transform: [{ filter: "datum.layer == 'point'" }], mark: { type: 'line', strokeWidth: 2.5, point: { filled: true, size: 70 } }, encoding: { x, y, color } },
          { transform: [{ filter: "datum.layer == 'ratio'" }], mark: { type: 'text', dy: -12, fontSize: 12, fontWeight: 'bold', color: '#333333' }, encoding: { x, y, text: { field: 'ratio' } } },
        ],
      },
    },
    file,
  );
  return [file];
}

/** Draws every plot for one or more runs into `dir`. */
export async function drawPlots(dir: string, runs: Run[]): Promise<string[]> {
  return [...(await drawThroughput(dir, runs)), ...(await drawLatency(dir, runs)), ...(await drawComparison(dir, runs))];
}

/**
 * Legend names for runs drawn together: the shortest tails of their folder
 * paths that tell them apart ("a/bench" and "b/bench", not two "bench"),
 * then what each measured and when.
 */
export function runLabels(dirs: string[], results: BenchResults[]): string[] {
  const parts = dirs.map((d) => path.resolve(d).split(path.sep).filter((p) => p !== ''));
  let depth = 1;
  const tail = (i: number): string => parts[i].slice(-depth).join('/');
  while (depth < Math.max(...parts.map((p) => p.length)) && new Set(parts.map((_, i) => tail(i))).size < parts.length) depth++;
  const labels = results.map((r, i) => {
    const targets = [...new Set(r.points.map((p) => p.target))].join('+');
    const when = r.startedAt.slice(0, 16).replace('T', ' ');
    return `${tail(i)} (${targets}, ${when})`;
  });
  // The same folder given twice still draws as two runs.
  return labels.map((l, i) => (labels.indexOf(l) === i ? l : `${l} #${i + 1}`));
}

/**
 * rdmq bench --breakdown: one stacked bar per layout, a segment per stage at
 * its mean (the stages follow one another, so the means add up to the whole
 * publish), in publish order; and each stage's p50 and p99 side by side.
 */
export async function drawBreakdown(
  dir: string,
  results: { layout?: string; batchBytes: number; stages: { name: string; where: string; meanUs: number; p50Us: number; p99Us: number }[] }[],
  stageOrder: string[],
): Promise<string[]> {
  const label = (r: { layout?: string }): string => r.layout ?? 'given rdmq';
  const rows = results.flatMap((r) =>
    r.stages.filter((s) => stageOrder.includes(s.name)).map((s) => ({ layout: label(r), stage: s.name, order: stageOrder.indexOf(s.name), mean: s.meanUs, p50: s.p50Us, p99: s.p99Us })),
  );
  const title = `Where one ${formatSize(results[0]?.batchBytes ?? 8192)} publish spends its time`;
  const stacked = path.join(dir, 'breakdown-stacked');
  await render(
    {
      title,
      width: 640,
      height: 40 * Math.max(1, results.length),
      data: { values: rows },
      mark: 'bar',
      encoding: {
        y: { field: 'layout', type: 'nominal', title: null },
        x: { field: 'mean', type: 'quantitative', stack: 'zero', title: 'mean µs per publish (stages in order)' },
        color: { field: 'stage', type: 'nominal', sort: stageOrder, scale: { scheme: 'tableau20' }, legend: { labelLimit: 400, columns: 1 } },
        order: { field: 'order', type: 'quantitative' },
        tooltip: [{ field: 'stage' }, { field: 'mean', format: '.1f' }],
      },
    },
    stacked,
  );
  const percentiles = path.join(dir, 'breakdown-percentiles');
  const long = rows.flatMap((r) => [
    { ...r, percentile: 'p50', us: Math.max(0.1, r.p50) },
    { ...r, percentile: 'p99', us: Math.max(0.1, r.p99) },
  ]);
  await render(
    {
      title: `${title}: p50 and p99 per stage`,
      data: { values: long },
      // Points, not bars: a bar on a log axis has no zero to start from.
      mark: { type: 'point', filled: true, size: 90 },
      width: 520,
      encoding: {
        y: { field: 'stage', type: 'nominal', sort: stageOrder, title: null, axis: { labelLimit: 400 } },
        x: { field: 'us', type: 'quantitative', scale: { type: 'log' }, title: 'µs (log)' },
        shape: { field: 'percentile', type: 'nominal' },
        color: { field: 'percentile', type: 'nominal', scale: { range: ['#4c78a8', '#e45756'] } },
        row: { field: 'layout', type: 'nominal', title: null },
      },
    },
    percentiles,
  );
  return [stacked, percentiles];
}
