// `rdmq cluster start` run the way an operator runs it — the real CLI in a
// process of its own — for the bench (several storage nodes, network
// namespaces), the chaos topology and tests: waits for its bootstrap and
// control lines, reads its state file, stops it.
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as readline from 'readline';
import type { ClusterState } from '../cli/cluster';
import { DEFAULT_BASE_PORT, NETNS_CLIENT_UCX_ENV } from '../cli/cluster-plan';
import { claimPorts, loopbackPortFree } from './cluster';

const MAIN = path.join(__dirname, '..', 'cli', 'main.js');

export interface ClusterRunOptions {
  storageNodes?: number;
  brokers?: number;
  gateways?: number;
  replicationFactor?: number;
  dataDir: string;
  basePort?: number;
  regionSize?: string;
  segmentSize?: string;
  netns?: boolean;
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
}

export class ClusterRun {
  private stderrTail = '';
  private readonly exited: Promise<void>;

  private constructor(
    readonly child: ChildProcess,
    readonly dataDir: string,
    readonly bootstrap: string[],
    readonly control: string[],
  ) {
    this.exited = new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
  }

  /** Runs `rdmq cluster start` and resolves once it printed its bootstrap and control lines. */
  static async start(o: ClusterRunOptions): Promise<ClusterRun> {
    const args = [
      MAIN, 'cluster', 'start', '--data', o.dataDir,
      '--storage-nodes', String(o.storageNodes ?? 1), '--brokers', String(o.brokers ?? 1), '--gateways', String(o.gateways ?? 1),
      '--base-port', String(o.basePort ?? (await freeBasePort())), '--region-size', o.regionSize ?? '256M', '--segment-size', o.segmentSize ?? '4M',
      ...(o.replicationFactor ? ['--replication-factor', String(o.replicationFactor)] : []),
      ...(o.netns ? ['--netns'] : []),
      ...(o.readyTimeoutMs ? ['--ready-timeout-ms', String(o.readyTimeoutMs)] : []),
      ...(o.extraArgs ?? []),
    ];
    const child = spawn(process.execPath, args, { env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => void (stderr = (stderr + c.toString()).slice(-65536)));
    const lines = await new Promise<Record<string, string>>((resolve, reject) => {
      const seen: Record<string, string> = {};
      readline.createInterface({ input: child.stdout! }).on('line', (line) => {
        const m = /^(bootstrap|control): (.*)$/.exec(line);
        if (m) seen[m[1]] = m[2];
        if (seen.bootstrap && seen.control) resolve(seen);
      });
      child.once('exit', (code, signal) => reject(new Error(`rdmq cluster start exited (${code ?? signal}) before it served:\n${stderr}`)));
    });
    const run = new ClusterRun(child, o.dataDir, lines.bootstrap.split(','), lines.control.split(','));
    child.stderr!.on('data', (c: Buffer) => void (run.stderrTail = (run.stderrTail + c.toString()).slice(-65536)));
    run.stderrTail = stderr;
    return run;
  }

  get state(): ClusterState {
    return JSON.parse(fs.readFileSync(path.join(this.dataDir, 'cluster.json'), 'utf8')) as ClusterState;
  }

  member(name: string): ClusterState['members'][number] {
    const m = this.state.members.find((x) => x.name === name);
    if (!m) throw new Error(`no member ${name}`);
    return m;
  }

  stderr(): string {
    return this.stderrTail;
  }

  /** `rdmq cluster <args> --data DIR` against this cluster; resolves with its stdout, rejects on a non-zero exit. */
  cli(...args: string[]): Promise<string> {
    return runCli([...args, '--data', this.dataDir]);
  }

  /** Sends `signal` to the launcher and waits for it to exit. */
  async signal(signal: NodeJS.Signals): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    await this.exited;
  }

  get exitCode(): number | null {
    return this.child.exitCode;
  }
}

export function runCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, 'cluster', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`rdmq cluster ${args.join(' ')} exited ${code}: ${err}${out}`))));
  });
}

/**
 * A base port whose 400 ports (the cluster's layout) are free on loopback now,
 * drawn below the ephemeral range and claimed for this process like
 * bench/cluster.ts freeLoopbackPort.
 */
export async function freeBasePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + 400 * Math.floor(Math.random() * 30);
    const probes = [0, 1, 100, 101, 102, 110, 111, 120, 121, 200, 201, 202, 203, 210, 211, 213, 302, 303, 312, 313, 322, 323].map((d) => base + d);
    if (!claimPorts(probes)) continue;
    if ((await Promise.all(probes.map(loopbackPortFree))).every(Boolean)) return base;
  }
  return DEFAULT_BASE_PORT;
}

/** Resolves once no process with these pids is left (or rejects after the time). */
export async function waitUntilGone(pids: number[], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      // A zombie is gone for our purpose (its parent has not reaped it yet).
      return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    } catch {
      return false;
    }
  };
  while (pids.some(alive)) {
    if (Date.now() > deadline) throw new Error(`still running after ${timeoutMs} ms: ${pids.filter(alive).join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export interface BenchCluster {
  control: string;
  kafka: string;
  /** broker-0 and gateway-0, whose CPU the bench reports as the server's. */
  brokerPid?: number;
  gatewayPid?: number;
  stop(): Promise<void>;
}

/**
 * The bench's own cluster when it needs more than `rdmq start`: N storage
 * nodes, one broker, one gateway, optionally each in a network namespace
 * (then this process's UCX goes over TCP on the bridge too).
 */
export async function startBenchCluster(o: {
  storageNodes: number;
  replicationFactor?: number;
  netns: boolean;
  regionSize: string;
  segmentSize: string;
  durability: string;
}): Promise<BenchCluster> {
  // A network namespace does not separate processes: the SDK would still copy by
  // CMA (process_vm_readv) to a storage node on this host. Off, so the bench's
  // fast-path bytes really go over UCX's TCP, as --netns promises.
  if (o.netns) Object.assign(process.env, NETNS_CLIENT_UCX_ENV);
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const dataDir = fs.mkdtempSync(path.join(base, 'rdmq-bench-cluster-'));
  let run: ClusterRun;
  try {
    run = await ClusterRun.start({
      dataDir,
      storageNodes: o.storageNodes,
      replicationFactor: o.replicationFactor,
      netns: o.netns,
      regionSize: o.regionSize,
      segmentSize: o.segmentSize,
      extraArgs: ['--durability', o.durability],
      readyTimeoutMs: 120_000,
    });
  } catch (err) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    control: run.control.join(','),
    kafka: run.bootstrap[0],
    brokerPid: run.member('broker-0').pid,
    gatewayPid: run.member('gateway-0').pid,
    stop: async () => {
      await run.signal('SIGTERM');
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
