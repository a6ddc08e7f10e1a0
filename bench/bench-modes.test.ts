// rdmq bench's measurement modes, each run tiny against the rdmq it starts
// (rdmq start, and the roles apart): the rows users run beside raw batches,
// the per-stage latency breakdown of a publish, and each client at its
// defaults. They check what is reported and that it adds up, never how fast.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import type { BreakdownResult } from './breakdown';
import { STAGES } from './breakdown';
import { ROUND_TRIPS_DEFAULT, RoundTripFloor } from './limits';
import type { ClientDefaultsRow } from './client-defaults';
import { BenchResults } from './report';

const run = promisify(execFile);
const MAIN = path.join(__dirname, '..', 'cli', 'main.js');

let out: string;
beforeEach(() => {
  out = fs.mkdtempSync(path.join(os.tmpdir(), 'rdmq-bench-modes-'));
});
afterEach(() => {
  fs.rmSync(out, { recursive: true, force: true });
});

describe('rdmq bench modes', () => {
  it('measures send()/eachMessage beside raw batches under rdmq start and the roles apart, each door warmed up first, each with its memcpy ratio and CPU per GB', async () => {
    const { stdout, stderr } = await run(
      process.execPath,
      [MAIN, 'bench', '--target', 'fastpath', '--layout', 'start,apart', '--batch-sizes', '64K', '--bytes', '2M', '--max-seconds', '3', '--warmup-seconds', '1', '--out', out],
      { timeout: 100_000 },
    );
    const { points } = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as BenchResults;
    expect(points.map((p) => [p.layout, p.client])).toEqual([
      ['start', 'sdk raw batches'],
      ['start', 'sdk send/eachMessage'],
      ['apart', 'sdk raw batches'],
      ['apart', 'sdk send/eachMessage'],
    ]);
    for (const p of points) {
      expect(p.producerMBps).toBeGreaterThan(0);
      expect(p.consumerMBps).toBeGreaterThan(0);
      expect(p.memcpyMBps).toBeGreaterThan(0);
      expect(p.records!.consumed).toBe(p.records!.produced);
      expect([p.records!.duplicates, p.records!.missing]).toEqual([0, 0]);
      // The client's CPU is this bench's own; the server's, every rdmq process's (apart: storage node and broker).
      expect(p.cpuSecondsPerGB!.client).toBeGreaterThan(0);
      expect(p.cpuSecondsPerGB!.server).toBeGreaterThan(0);
      // Apart, each role's share: the storage node's and the broker's, adding up to the server's.
      const byRole = p.cpuSecondsPerGB!.serverByRole;
      if (p.layout === 'start') {
        expect(byRole).toBeUndefined();
      } else {
        expect(Object.keys(byRole!)).toEqual(['storage', 'broker']);
        expect(byRole!.storage).toBeGreaterThan(0);
        expect(byRole!.broker).toBeGreaterThan(0);
        expect(byRole!.storage + byRole!.broker).toBeCloseTo(p.cpuSecondsPerGB!.server, 6);
      }
    }
    expect(fs.readFileSync(path.join(out, 'results.md'), 'utf8')).toMatch(/\| apart \| fastpath \| sdk raw batches \|.*\| \d+\.\d\d \/ \d+\.\d\d \(storage \d+\.\d\d, broker \d+\.\d\d\) \|/);
    // send() of 1 KiB records: 2 MiB of values is at least 2048 records (whole sends of 63).
    expect(points.find((p) => p.client === 'sdk send/eachMessage')!.records!.produced % 63).toBe(0);
    expect(points.find((p) => p.client === 'sdk send/eachMessage')!.records!.produced).toBeGreaterThanOrEqual(2048);
    expect(stdout).toMatch(/apart\s+fastpath\s+sdk send\/eachMessage\s+produce\+consume/);
    expect(stdout).toMatch(/start\s+fastpath\s+sdk raw batches/);
    // Each door ran unrecorded once before its first point (its records are in no point above).
    expect(stderr.match(/warming up for 1 s \(not recorded\)/g)).toHaveLength(4);
  }, 110_000);

  it('--rounds starts each layout anew, alternately, warms each start up, keeps every point and compares each door\'s medians apart / start', async () => {
    const { stdout, stderr } = await run(
      process.execPath,
      [MAIN, 'bench', '--target', 'fastpath', '--layout', 'start,apart', '--rounds', '2', '--api', 'raw', '--workload', 'produce', '--batch-sizes', '64K', '--bytes', '2M', '--max-seconds', '3', '--warmup-seconds', '1', '--out', out],
      { timeout: 150_000 },
    );
    const { points } = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as BenchResults;
    expect(points.map((p) => [p.round, p.layout])).toEqual([
      [1, 'start'],
      [1, 'apart'],
      [2, 'start'],
      [2, 'apart'],
    ]);
    expect(stderr.match(/starting rdmq, (rdmq start|roles apart), round \d of 2/g)).toEqual([
      'starting rdmq, rdmq start, round 1 of 2',
      'starting rdmq, roles apart, round 1 of 2',
      'starting rdmq, rdmq start, round 2 of 2',
      'starting rdmq, roles apart, round 2 of 2',
    ]);
    // Each start of rdmq is cold again: its door is warmed up before its point.
    expect(stderr.match(/warming up for 1 s \(not recorded\)/g)).toHaveLength(4);
    const median = (layout: string) => {
      const [a, b] = points.filter((p) => p.layout === layout).map((p) => p.producerMBps!);
      return (a + b) / 2;
    };
    const ratio = (median('apart') / median('start')).toFixed(2);
    expect(stdout).toMatch(/the roles apart beside rdmq start/);
    expect(stdout).toMatch(new RegExp(`fastpath\\s+sdk raw batches\\s+produce\\s+64K\\s+2\\s+${median('start').toFixed(0)} / ${median('apart').toFixed(0)}\\s+${ratio}`));
    expect(fs.readFileSync(path.join(out, 'results.md'), 'utf8')).toMatch(/## The roles apart beside rdmq start/);
    await expect(run(process.execPath, [MAIN, 'bench', '--control', '127.0.0.1:1', '--rounds', '2'])).rejects.toThrow(/--rounds starts the rdmq the bench measures anew each round/);
  }, 160_000);

  it('--breakdown traces every publish in the client and the broker, after the untraced warm-up asked for: the stages add up to the whole publish', async () => {
    const { stdout } = await run(process.execPath, [MAIN, 'bench', '--breakdown', '--warmup', '20', '--publishes', '60', '--out', out], { timeout: 60_000 });
    const { breakdown, roundTripFloor } = JSON.parse(fs.readFileSync(path.join(out, 'breakdown.json'), 'utf8')) as { breakdown: BreakdownResult[]; roundTripFloor: RoundTripFloor };
    expect(breakdown).toHaveLength(1);
    // The machine's floor beside it, from the same run: round trips between two processes, in order.
    expect(roundTripFloor.count).toBe(ROUND_TRIPS_DEFAULT);
    expect(roundTripFloor.p50Us).toBeGreaterThan(0);
    expect([roundTripFloor.p50Us, roundTripFloor.p99Us, roundTripFloor.p999Us]).toEqual([...[roundTripFloor.p50Us, roundTripFloor.p99Us, roundTripFloor.p999Us]].sort((a, b) => a - b));
    expect(roundTripFloor.p999Us).toBeLessThanOrEqual(roundTripFloor.maxUs);
    const [result] = breakdown;
    expect(result).toMatchObject({ layout: 'start', batchBytes: 8192, publishes: 60, warmup: 20, joined: 60 });
    const stage = (name: string) => result.stages.find((s) => s.name === name)!;
    for (const spec of STAGES) {
      const s = stage(spec.name);
      expect(s.count).toBe(60);
      expect(s.p50Us).toBeGreaterThanOrEqual(0);
      expect(s.p50Us).toBeLessThanOrEqual(s.p99Us);
    }
    // Each stage ends where the next begins: their means add up to the publish's.
    const sum = STAGES.reduce((total, spec) => total + stage(spec.name).meanUs, 0);
    const total = stage('total: send() → resolved').meanUs;
    expect(Math.abs(sum - total)).toBeLessThan(total * 0.001 + 1);
    expect(stdout).toMatch(/broker: storage check \+ commit/);
    expect(fs.readFileSync(path.join(out, 'breakdown.md'), 'utf8')).toMatch(/\| broker: storage check \+ commit \| broker \|/);
    expect(stdout).toMatch(/one round trip between two processes [^\n]* p50 [\d.]+ \/ p99 [\d.]+ \/ p99\.9 [\d.]+ \/ max [\d.]+ µs, \d+ of 100000 over 2 ms/);
    for (const plot of ['breakdown-stacked', 'breakdown-percentiles']) expect(fs.statSync(path.join(out, `${plot}.png`)).size).toBeGreaterThan(1000);
  }, 70_000);

  it('publish tracing is off unless asked: a process without RDMQ_PUBLISH_TRACE takes no marks', async () => {
    const trace = path.join(__dirname, '..', 'format', 'publish-trace.js');
    const script = `const t = require(${JSON.stringify(trace)}); if (t.publishTraceOn) t.markPublish('x'); process.stdout.write(JSON.stringify([t.publishTraceOn, t.takePublishMarks().length]));`;
    const env = { ...process.env };
    delete env.RDMQ_PUBLISH_TRACE;
    expect(JSON.parse((await run(process.execPath, ['-e', script], { env })).stdout)).toEqual([false, 0]);
    expect(JSON.parse((await run(process.execPath, ['-e', script], { env: { ...env, RDMQ_PUBLISH_TRACE: '1' } })).stdout)).toEqual([true, 1]);
  });

  it('--client-defaults runs kcat, kafkajs, kafka-python, confluent-kafka and sarama at their defaults, and reads every record back, with the gateway requests each needed', async () => {
    const { stdout } = await run(process.execPath, [MAIN, 'bench', '--client-defaults', '--bytes', '2M', '--out', out], { timeout: 150_000 });
    const { clientDefaults } = JSON.parse(fs.readFileSync(path.join(out, 'client-defaults.json'), 'utf8')) as { clientDefaults: ClientDefaultsRow[] };
    expect(clientDefaults.map((r) => [r.server, r.client])).toEqual([
      ['rdmq start', 'kcat'],
      ['rdmq start', 'kafkajs'],
      ['rdmq start', 'kafka-python'],
      ['rdmq start', 'confluent-kafka'],
      ['rdmq start', 'sarama'],
    ]);
    for (const row of clientDefaults) {
      expect(row.error).toBeUndefined();
      expect(row.warmupRecords).toBe(2048); // min(--bytes, 32M), read back before the measured phases
      expect(row.produce!.records).toBe(2048);
      expect(row.consume!.records).toBe(2048);
      expect(row.produce!.mbps).toBeGreaterThan(0);
      expect(row.consume!.mbps).toBeGreaterThan(0);
      expect(row.produce!.requests!.Produce.count).toBeGreaterThan(0);
      expect(row.consume!.requests!.Fetch.count).toBeGreaterThan(0);
      expect(row.produce!.cpuSecondsPerGB.server).toBeGreaterThan(0);
      expect(row.produce!.serverCpuUsPerRequest).toBeGreaterThan(0);
    }
    // kafka-python's default batch.size (16 KiB) takes many more Produce requests than sarama's (1 MB).
    const produces = (client: string) => clientDefaults.find((r) => r.client === client)!.produce!.requests!.Produce.count;
    expect(produces('kafka-python')).toBeGreaterThan(produces('sarama'));
    expect(stdout).toMatch(/rdmq start\s+kafka-python/);
    expect(stdout).toMatch(/rdmq start\s+confluent-kafka/);
  }, 160_000);
});
