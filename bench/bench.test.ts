// rdmq bench is a benchmark, not a timed test: these runs are tiny and check
// only that every door is measured and every result is written, never how fast.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { ClusterProcess, startCluster } from './cluster';
import { BenchResults } from './report';

const run = promisify(execFile);
const MAIN = path.join(__dirname, '..', 'cli', 'main.js');

describe('rdmq bench', () => {
  let cluster: ClusterProcess;
  beforeAll(async () => {
    cluster = await startCluster({ regionSize: '512M', segmentSize: '16M' });
  });
  afterAll(async () => {
    await cluster.stop();
  });

  it('drives any Kafka-protocol server with kafkajs and kcat: here rdmq\'s own gateway as --target kafka', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'rdmq-bench-'));
    const { stdout } = await run(
      process.execPath,
      [MAIN, 'bench', '--target', 'kafka', '--bootstrap', `127.0.0.1:${cluster.kafkaPort}`, '--batch-sizes', '64K', '--bytes', '2M', '--max-seconds', '3', '--out', out],
      { timeout: 120_000 },
    );
    expect(stdout).toMatch(/kafka\s+kafkajs/);
    expect(stdout).toMatch(/kafka\s+kcat/);
    const results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as BenchResults;
    expect(results.points.map((p) => p.client).sort()).toEqual(['kafkajs', 'kcat']);
    for (const p of results.points) {
      expect(p.target).toBe('kafka');
      expect(p.batchSize).toBe(65536);
      expect(p.producerMBps).toBeGreaterThan(0);
      expect(p.consumerMBps).toBeGreaterThan(0);
      expect(p.tcpLoopbackMBps).toBeGreaterThan(0);
      expect(p.memcpyMBps).toBeGreaterThan(0);
    }
    for (const plot of ['producer-throughput', 'consumer-throughput', 'latency-over-time', 'latency-cdf']) {
      expect(fs.statSync(path.join(out, `${plot}.png`)).size).toBeGreaterThan(1000);
      expect(fs.readFileSync(path.join(out, `${plot}.svg`), 'utf8')).toMatch(/<svg/);
    }
    expect(fs.readFileSync(path.join(out, 'results.md'), 'utf8')).toMatch(/\| kafka \| kcat \|/);
  }, 150_000);

  it('measures the fast path and writes the points as JSON', async () => {
    const json = path.join(os.tmpdir(), `rdmq-bench-${process.pid}.json`);
    await run(process.execPath, [MAIN, 'bench', '--target', 'fastpath', '--control', cluster.control, '--batch-sizes', '8K,1M', '--bytes', '4M', '--max-seconds', '3', '--json', json], { timeout: 120_000 });
    const points = JSON.parse(fs.readFileSync(json, 'utf8')) as Record<string, unknown>[];
    expect(points.map((p) => p.batchSize)).toEqual([8192, 1 << 20]);
    for (const p of points) {
      expect(Object.keys(p).sort()).toEqual(['batchSize', 'client', 'consumerMBps', 'latencyUs', 'memcpyMBps', 'mode', 'producerMBps', 'target']);
      expect(p.target).toBe('fastpath');
      expect(Object.keys(p.latencyUs as object).sort()).toEqual(['max', 'p50', 'p99', 'p999']);
    }
  }, 150_000);
});
