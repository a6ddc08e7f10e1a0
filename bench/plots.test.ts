// The plots read at a glance: checked in the SVG that `rdmq bench report`
// draws (the PNG is the same picture rasterised). Results are written by hand
// here, shaped as `rdmq bench` writes them; bench.test.ts runs the real
// benchmark.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { runLabels, styleSeries } from './plots';
import { BenchResults, LatencyTrace, ResultPoint } from './report';

const run = promisify(execFile);
const MAIN = path.join(__dirname, '..', 'cli', 'main.js');

const KiB = 1024;
const MiB = 1024 * KiB;

function point(target: string, client: string, batchSize: number, producerMBps: number, consumerMBps: number, extra: Partial<ResultPoint> = {}): ResultPoint {
  return {
    target,
    client,
    mode: target === 'fastpath' ? 'shared' : 'acks=-1',
    workload: 'produce+consume',
    batchSize,
    producerMBps,
    consumerMBps,
    memcpyMBps: 10_000,
    tcpLoopbackMBps: target === 'fastpath' ? undefined : 1_000,
    kcatCeilingMBps: client === 'kcat' ? 400 : undefined,
    ...extra,
  };
}

function trace(series: string, batchSize: number): LatencyTrace {
  return { label: `${series} ${batchSize}`, series, batchSize, kind: 'publish', workload: 'produce+consume', overTime: [[0, 900], [500, 1200], [1000, 1000]], cdf: [[0, 800], [50, 1000], [99, 2000], [99.9, 3000]] };
}

function results(points: ResultPoint[], latency: LatencyTrace[] = [], startedAt = '2026-12-01T12:00:00.000Z'): BenchResults {
  return { startedAt, machine: { cpus: 2, memoryBytes: 8 << 30, node: 'v20' }, points, latency };
}

const rdmqRun = (batches: number[]) =>
  results(
    batches.flatMap((b) => [point('fastpath', 'rdmq-sdk', b, 2000, 3000), point('gateway', 'kafkajs', b, 30, 60), point('gateway', 'kcat', b, 200, 150)]),
    batches.flatMap((b) => [trace('fastpath (shared)', b), trace('gateway (kafkajs)', b)]),
  );

interface LegendEntry {
  label: string;
  stroke?: string;
  dash?: string;
}

/** The entries of the legend that names the series (colour and dash), as drawn. */
function seriesLegend(svg: string): LegendEntry[] {
  const legends = svg.split('class="mark-group role-legend"').slice(1);
  const legend = legends.find((l) => /aria-label="Symbol legend for [^"]*(stroke color|color)/.test(l) && !/aria-label="Symbol legend for shape/.test(l));
  if (!legend) return [];
  const entries: LegendEntry[] = [];
  const entry = /role-legend-symbol[^>]*><path ([^>]*)\/><\/g><g class="mark-text role-legend-label"[^>]*><text[^>]*>([^<]*)<\/text>/g;
  for (const m of legend.matchAll(entry)) {
    entries.push({ label: m[2], stroke: /stroke="([^"]*)"/.exec(m[1])?.[1], dash: /stroke-dasharray="([^"]*)"/.exec(m[1])?.[1] });
  }
  return entries;
}

/** Every line of text drawn (a text of several lines is drawn as tspans). */
const texts = (svg: string): string[] => [...svg.matchAll(/<(text|tspan)[^>]*>([^<]+)</g)].map((m) => m[2]);

describe('benchmark plots', () => {
  const dirs: string[] = [];
  const tempDir = (name = 'plots'): string => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `rdmq-${name}-`));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Saves each run as `rdmq bench --out` would, in a folder of that name, and draws them with `rdmq bench report`. */
  const report = async (runs: [string, BenchResults][]): Promise<{ out: string; dirs: string[]; stdout: string }> => {
    const root = tempDir();
    const saved = runs.map(([name, r]) => {
      const dir = path.join(root, name);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'results.json'), JSON.stringify(r));
      return dir;
    });
    const out = path.join(root, 'plots');
    const { stdout } = await run(process.execPath, [MAIN, 'bench', 'report', ...saved, '--out', out], { timeout: 60_000 });
    return { out, dirs: saved, stdout };
  };
  const svgOf = (out: string, name: string): string => fs.readFileSync(path.join(out, `${name}.svg`), 'utf8');

  it('draws limits dashed in the legend as in the plot, every series in its own colour, labels whole', async () => {
    const { out } = await report([['bench', rdmqRun([8 * KiB, 64 * KiB, MiB])]]);
    const svg = svgOf(out, 'producer-throughput');
    const legend = seriesLegend(svg);
    expect(legend.map((e) => e.label)).toEqual([
      'fastpath (shared)',
      'gateway (kafkajs)',
      'gateway (kcat)',
      'memcpy into the region (limit)',
      'TCP loopback (limit)',
      'kcat against a server that stores nothing (limit)',
    ]);
    for (const e of legend) expect([e.label, e.dash]).toEqual([e.label, e.label.endsWith('(limit)') ? '6,4' : '1,0']);
    expect(new Set(legend.map((e) => e.stroke)).size).toBe(legend.length);
    expect(texts(svg).filter((t) => t.includes('…'))).toEqual([]);
  });

  it('gives a door the same colour in every run, whatever else the run measured', () => {
    const alone = styleSeries([{ name: 'gateway (kcat)', base: 'gateway (kcat)', limit: false }]);
    const withOthers = styleSeries([
      { name: 'fastpath (shared)', base: 'fastpath (shared)', limit: false },
      { name: 'kafka (kafkajs)', base: 'kafka (kafkajs)', limit: false },
      { name: 'gateway (kcat)', base: 'gateway (kcat)', limit: false },
    ]);
    expect(withOthers.get('gateway (kcat)')!.colour).toBe(alone.get('gateway (kcat)')!.colour);
    // The pairs that used to share a hue: TCP limit vs fast path, the gateway's two clients.
    const all = styleSeries(
      ['fastpath (shared)', 'TCP loopback (limit)', 'gateway (kafkajs)', 'gateway (kcat)'].map((name) => ({ name, base: name, limit: name.endsWith('(limit)') })),
    );
    expect(all.get('fastpath (shared)')!.colour).not.toBe(all.get('TCP loopback (limit)')!.colour);
    expect(all.get('gateway (kafkajs)')!.colour).not.toBe(all.get('gateway (kcat)')!.colour);
  });

  it('with one batch size draws visible markers and limits as levels across the plot', async () => {
    const { out } = await report([['bench', rdmqRun([64 * KiB])]]);
    const svg = svgOf(out, 'producer-throughput');
    // Limits are rules from one edge to the other (the plot is 600 wide).
    const rules = [...svg.matchAll(/<line [^>]*aria-roledescription="rule mark"[^>]*x2="(-?[\d.]+)"[^>]*stroke-dasharray="6,4"/g)].map((m) => Math.abs(Number(m[1])));
    expect(rules).toEqual([600, 600, 600]);
    // Three doors, one marker each, in the middle of the plot rather than alone on its edge.
    const markers = [...svg.matchAll(/<path [^>]*aria-roledescription="point" transform="translate\(([\d.]+),/g)].map((m) => Number(m[1]));
    expect(markers.length).toBe(3);
    for (const x of markers) expect(x).toBeCloseTo(300, 0);
  });

  it('a kcat-only run says kcat reports no per-record latency instead of drawing an empty canvas', async () => {
    const { out } = await report([['bench', results([point('gateway', 'kcat', 64 * KiB, 200, 150)])]]);
    for (const file of ['latency-over-time', 'latency-cdf']) {
      const said = texts(svgOf(out, file)).join(' ');
      expect(said).toContain('kcat reports no per-record latency');
    }
  });

  it('bench report A B tells the runs apart by their folders, keeps each run its own line and colour', async () => {
    // Two runs saved as ".../a/bench" and ".../b/bench": both folders are called bench.
    const first = rdmqRun([8 * KiB, MiB]);
    const second = results([point('gateway', 'kafkajs', 8 * KiB, 35, 70), point('gateway', 'kafkajs', MiB, 45, 90)], [], '2026-12-01T13:30:00.000Z');
    const { out, dirs: saved } = await report([['a/bench', first], ['b/bench', second]]);
    const labels = runLabels(saved, [first, second]);
    expect(labels).toEqual(['a/bench (fastpath+gateway, 2026-12-01 12:00)', 'b/bench (gateway, 2026-12-01 13:30)']);
    const svg = svgOf(out, 'producer-throughput');
    const legend = seriesLegend(svg);
    const kafkajs = legend.filter((e) => e.label.startsWith('gateway (kafkajs)'));
    expect(kafkajs.map((e) => e.label)).toEqual([`gateway (kafkajs) — ${labels[0]}`, `gateway (kafkajs) — ${labels[1]}`]);
    expect(new Set(legend.map((e) => e.stroke)).size).toBe(legend.length);
    expect(texts(svg).filter((t) => t.includes('…'))).toEqual([]);
    // One line per run: each kafkajs line goes through its own two points, left to right.
    const lines = [...svg.matchAll(/<path[^>]*d="M([\d.,LM]+)"[^>]*stroke="([^"]+)"[^>]*stroke-dasharray="1,0"/g)].filter((m) => kafkajs.some((e) => e.stroke === m[2]));
    expect(lines.length).toBe(2);
    for (const [, d] of lines) {
      const xs = d.split(/[ML]/).filter((s) => s !== '').map((s) => Number(s.split(',')[0]));
      expect(xs.length).toBe(2);
      expect(xs[0]).toBeLessThan(xs[1]);
    }
  });

  it('compares an rdmq run with a Kafka run door by door, in two colours, with the ratio written at each batch size', async () => {
    const kafka = results([point('kafka', 'kafkajs', 64 * KiB, 15, 30), point('kafka', 'kcat', 64 * KiB, 400, 300), point('kafka', 'kafkajs', MiB, 20, 40), point('kafka', 'kcat', MiB, 500, 250)]);
    const { out, stdout } = await report([['rdmq', rdmqRun([64 * KiB, MiB])], ['kafka', kafka]]);
    expect(stdout).toContain('compare-kafka.png');
    const svg = svgOf(out, 'compare-kafka');
    const said = texts(svg);
    for (const door of ['Kafka protocol, kafkajs', 'Kafka protocol, kcat', 'rdmq fast path vs Kafka (its best client)']) expect(said).toContain(door);
    // gateway kafkajs 30 MB/s against Kafka's 15 at 64 KiB: 2.0×; fast path 2000 against kcat's 400: 5.0×.
    expect(said).toEqual(expect.arrayContaining(['2.0×', '5.0×', '0.5×']));
    const legend = seriesLegend(svg);
    expect(legend.map((e) => e.label)).toEqual(['rdmq', 'Apache Kafka']);
    expect(new Set(legend.map((e) => e.stroke)).size).toBe(2);
    expect(said.filter((t) => t.includes('…'))).toEqual([]);
  });
});
