// rdmq bench is a benchmark, not a timed test: these runs are tiny and check
// only that every door is measured, every record is read exactly once, every
// latency is there and in order, and every result is written — never how fast.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { ClusterProcess, startCluster } from './cluster';
import { LatencySummary } from './latency';
import { BenchResults, ResultPoint } from './report';

const run = promisify(execFile);
const MAIN = path.join(__dirname, '..', 'cli', 'main.js');

/** Runs `rdmq bench ARGS --out DIR` and returns what it wrote. */
async function bench(args: string[]): Promise<{ stdout: string; out: string; results: BenchResults }> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'rdmq-bench-'));
  const { stdout } = await run(process.execPath, [MAIN, 'bench', ...args, '--max-seconds', '3', '--out', out], { timeout: 120_000 });
  return { stdout, out, results: JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as BenchResults };
}

function expectOrdered(l: LatencySummary | undefined): void {
  expect(l).toBeDefined();
  expect(l!.p50).toBeGreaterThan(0);
  expect(l!.p50).toBeLessThanOrEqual(l!.p99);
  expect(l!.p99).toBeLessThanOrEqual(l!.p999);
  expect(l!.p999).toBeLessThanOrEqual(l!.max);
}

function expectEveryRecordOnce(p: ResultPoint): void {
  expect(p.records!.produced).toBeGreaterThan(0);
  expect(p.records!.consumed).toBe(p.records!.produced);
  if (p.client !== 'kcat') expect([p.records!.duplicates, p.records!.missing]).toEqual([0, 0]);
}

describe('rdmq bench', () => {
  let cluster: ClusterProcess;
  beforeAll(async () => {
    cluster = await startCluster({ regionSize: '512M', segmentSize: '16M' });
  });
  afterAll(async () => {
    await cluster.stop();
  });

  it('drives any Kafka-protocol server with kafkajs: a group of 2 consumers splits 2 partitions and reads every record once, also end to end', async () => {
    const { stdout, out, results } = await bench(['--target', 'kafka', '--bootstrap', `127.0.0.1:${cluster.kafkaPort}`, '--client', 'kafkajs', '--workload', 'all', '--partitions', '2', '--consumers', '2', '--batch-sizes', '64K', '--bytes', '2M']);
    expect(stdout).toMatch(/kafka\s+kafkajs\s+produce\+consume/);
    expect(results.points.map((p) => p.workload)).toEqual(['produce+consume', 'e2e']);
    for (const p of results.points) {
      expect(p).toMatchObject({ target: 'kafka', client: 'kafkajs', batchSize: 65536, partitions: 2, consumers: 2 });
      expect(p.producerMBps).toBeGreaterThan(0);
      expect(p.consumerMBps).toBeGreaterThan(0);
      expect(p.tcpLoopbackMBps).toBeGreaterThan(0);
      expect(p.memcpyMBps).toBeGreaterThan(0);
      // kafkajs's own consume ceiling, from a server that serves from memory, measured in the same run; kcat's are not its.
      expect(p.kafkajsConsumeCeilingMBps).toBeGreaterThan(0);
      expect([p.kcatCeilingMBps, p.kcatConsumeCeilingMBps, p.processCopyMBps]).toEqual([undefined, undefined, undefined]);
      expectOrdered(p.latencyUs);
      expectEveryRecordOnce(p);
    }
    expectOrdered(results.points[1].e2eLatencyUs);
    expect(results.latency.map((t) => t.kind).sort()).toEqual(['e2e', 'publish', 'publish']);
    for (const plot of ['producer-throughput', 'consumer-throughput', 'latency-over-time', 'latency-cdf']) {
      expect(fs.statSync(path.join(out, `${plot}.png`)).size).toBeGreaterThan(1000);
      expect(fs.readFileSync(path.join(out, `${plot}.svg`), 'utf8')).toMatch(/<svg/);
    }
    const md = fs.readFileSync(path.join(out, 'results.md'), 'utf8');
    expect(md).toMatch(/\| kafka \| kafkajs \| e2e \|/);
    // The client-ceiling column: no producer ceiling for kafkajs, its consumer against its own.
    expect(md).toMatch(/\| kafka \| kafkajs \| produce\+consume \|[^\n]*\| - \/ \d+% of \d+ \|/);
    // Every plot results.md shows was drawn; with no rdmq points there is no comparison to link.
    for (const [, file] of md.matchAll(/\]\(([^)]+\.png)\)/g)) expect(fs.existsSync(path.join(out, file))).toBe(true);
    expect(md).not.toContain('compare-kafka');
  }, 150_000);

  it('drives kcat as child processes: their CPU counts as client CPU, and end-to-end latency goes through the pipes', async () => {
    const { results } = await bench(['--target', 'kafka', '--bootstrap', `127.0.0.1:${cluster.kafkaPort}`, '--client', 'kcat', '--workload', 'all', '--batch-sizes', '64K', '--bytes', '2M']);
    expect(results.points.map((p) => [p.client, p.workload])).toEqual([['kcat', 'produce+consume'], ['kcat', 'e2e']]);
    for (const p of results.points) {
      expect(p.producerMBps).toBeGreaterThan(0);
      expect(p.consumerMBps).toBeGreaterThan(0);
      // kcat reports no publish latency.
      expect(p.latencyUs).toBeUndefined();
      expectEveryRecordOnce(p);
      expect(p.cpuSecondsPerGB!.clientChildren).toBeGreaterThan(0);
      expect(p.cpuSecondsPerGB!.client).toBeGreaterThanOrEqual(p.cpuSecondsPerGB!.clientChildren!);
      // The client's own ceilings, kcat against a server that stores nothing (and serves reads from memory), measured in the same run.
      expect(p.kcatCeilingMBps).toBeGreaterThan(0);
      expect(p.kcatConsumeCeilingMBps).toBeGreaterThan(0);
      expect(p.kafkajsConsumeCeilingMBps).toBeUndefined();
    }
    expectOrdered(results.points[1].e2eLatencyUs);
  }, 150_000);

  it('measures the fast path with 2 producers and 2 consumers splitting 2 partitions, end to end too, and writes the points as JSON', async () => {
    const json = path.join(os.tmpdir(), `rdmq-bench-${process.pid}.json`);
    await run(
      process.execPath,
      [MAIN, 'bench', '--target', 'fastpath', '--api', 'raw', '--control', cluster.control, '--workload', 'produce,consume,e2e', '--partitions', '2', '--producers', '2', '--consumers', '2', '--batch-sizes', '8K,1M', '--bytes', '4M', '--max-seconds', '3', '--json', json],
      { timeout: 120_000 },
    );
    const points = JSON.parse(fs.readFileSync(json, 'utf8')) as ResultPoint[];
    expect(points.map((p) => [p.batchSize, p.workload])).toEqual([[8192, 'produce+consume'], [8192, 'e2e'], [1 << 20, 'produce+consume'], [1 << 20, 'e2e']]);
    for (const p of points) {
      expect(Object.keys(p).sort()).toEqual(
        ['batchSize', 'client', 'consumerMBps', 'consumers', 'latencyUs', 'memcpyMBps', 'mode', 'partitions', 'processCopyMBps', 'producerMBps', 'producers', 'readBytesByReplica', 'records', 'target', 'workload', ...(p.workload === 'e2e' ? ['e2eLatencyUs'] : [])].sort(),
      );
      // The fast path's ceiling here, measured in the same run: one CMA copy between two processes each way.
      expect(p.processCopyMBps!.put).toBeGreaterThan(0);
      expect(p.processCopyMBps!.get).toBeGreaterThan(0);
      // One storage node: every byte the consumers read came from it.
      expect(Object.keys(p.readBytesByReplica!)).toHaveLength(1);
      expect(Object.values(p.readBytesByReplica!)[0]).toBeGreaterThan(0);
      expect(p).toMatchObject({ target: 'fastpath', client: 'sdk raw batches', partitions: 2, producers: 2, consumers: 2 });
      expectOrdered(p.latencyUs);
      expectEveryRecordOnce(p);
    }
    for (const p of points.filter((p) => p.workload === 'e2e')) expectOrdered(p.e2eLatencyUs);
  }, 150_000);
});
