// rdmq bench starting its own cluster apart (rdmq cluster start): members in
// network namespaces, the consumers' read bytes per replica. Tiny runs that
// check what is reported, never how fast.
import { execFile, execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { NETNS_PREFIX, netnsSlot } from '../cli/cluster-plan';
import { BenchResults } from './report';

const run = promisify(execFile);
const MAIN = path.join(__dirname, '..', 'cli', 'main.js');
const NETNS_SCRIPT = path.join(__dirname, '..', '..', 'scripts', 'netns.sh');

const namespaces = (): string[] =>
  execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n.startsWith(NETNS_PREFIX));

describe('rdmq bench on a cluster of its own', () => {
  afterAll(() => {
    execFileSync('bash', [NETNS_SCRIPT, 'down']);
  });

  it('--netns runs the members in namespaces, measures the fast path and the gateway across them, reports read bytes per replica, and removes the namespaces', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'rdmq-bench-netns-'));
    try {
      const { stderr } = await run(
        process.execPath,
        [MAIN, 'bench', '--netns', '--api', 'raw', '--target', 'fastpath', '--target', 'gateway', '--client', 'kafkajs', '--batch-sizes', '64K', '--bytes', '16M', '--max-seconds', '3', '--out', out],
        { timeout: 150_000 },
      );
      const results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as BenchResults;
      const fast = results.points.find((p) => p.target === 'fastpath')!;
      const gateway = results.points.find((p) => p.target === 'gateway')!;
      for (const p of [fast, gateway]) {
        expect(p.netns).toBe(true);
        expect(p.records!.consumed).toBe(p.records!.produced);
      }
      // Across namespaces the fast path moves bytes over TCP: no CMA copy stands beside it.
      expect(fast.processCopyMBps).toBeUndefined();
      // The storage node is the first member, in the first namespace: every byte read came from it, over the veth.
      const storage = netnsSlot(0).address;
      const replicas = Object.keys(fast.readBytesByReplica ?? {});
      expect(replicas).toHaveLength(1);
      expect(replicas[0].startsWith(`${storage}:`)).toBe(true);
      // At least every record's value bytes (the bench may stop producing at --max-seconds, before 16M).
      expect(fast.readBytesByReplica![replicas[0]]).toBeGreaterThanOrEqual(fast.records!.consumed! * 1024);
      expect(stderr).toMatch(new RegExp(`read per replica: ${storage.replace(/\./g, '\\.')}:\\d+ [\\d.]+ [KM]iB \\(100%\\)`));
      expect(namespaces()).toEqual([]);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  }, 180_000);

  it('--fanout 2 on one RF 3 partition: each reader delivers every record once, and the two read mostly from different storage nodes', async () => {
    const json = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rdmq-bench-fanout-')), 'points.json');
    try {
      const { stderr } = await run(
        process.execPath,
        [MAIN, 'bench', '--storage-nodes', '3', '--replication', '3', '--api', 'raw', '--fanout', '2', '--workload', 'consume', '--batch-sizes', '64K', '--bytes', '8M', '--max-seconds', '5', '--json', json],
        { timeout: 100_000 },
      );
      expect(stderr).not.toMatch(/WARNING|FAILED/);
      const [point] = JSON.parse(fs.readFileSync(json, 'utf8')) as BenchResults['points'];
      expect(point.fanout).toBe(2);
      expect(point.replicationFactor).toBe(3);
      const records = point.records!;
      expect(records.produced).toBeGreaterThan(0);
      expect(records.consumedByReader).toEqual([records.produced, records.produced]);
      expect(records.consumed).toBe(2 * records.produced);
      expect([records.duplicates, records.missing]).toEqual([0, 0]);
      // Each reader read at least every value byte, most of it from one node, and not the other reader's node.
      const mainNode = (bytes: Record<string, number>): string => {
        const total = Object.values(bytes).reduce((a, b) => a + b, 0);
        expect(total).toBeGreaterThanOrEqual(records.produced * 1024);
        const [node, most] = Object.entries(bytes).sort(([, a], [, b]) => b - a)[0];
        expect(most / total).toBeGreaterThan(0.8);
        return node;
      };
      const [first, second] = point.readBytesByReader!.map(mainNode);
      expect(first).not.toBe(second);
      const total = Object.values(point.readBytesByReplica!).reduce((a, b) => a + b, 0);
      expect(Object.values(point.readBytesByReplica!).filter((bytes) => bytes > 0.3 * total).length).toBeGreaterThanOrEqual(2);
      expect(stderr).toMatch(/reader 0: .*; reader 1: /);
    } finally {
      fs.rmSync(path.dirname(json), { recursive: true, force: true });
    }
  }, 120_000);

  it('refuses --fanout for Kafka clients, which would need consumer groups of their own', async () => {
    await expect(run(process.execPath, [MAIN, 'bench', '--fanout', '2', '--target', 'gateway'])).rejects.toThrow(/--fanout is for --target fastpath only/);
  });

  it('refuses a replication factor above its storage nodes, saying which', async () => {
    await expect(run(process.execPath, [MAIN, 'bench', '--storage-nodes', '2', '--replication', '3', '--target', 'fastpath'])).rejects.toThrow(
      /--replication 3 needs at least that many storage nodes \(--storage-nodes 2\)/,
    );
  });
});
