// Starts `rdmq start` in its own process for a benchmark or a test, with its
// data in a fresh temporary directory, and waits for its ready line.
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import * as readline from 'readline';

export interface ClusterProcess {
  child: ChildProcess;
  dataDir: string;
  control: string;
  fastpathPort: number;
  metricsPort: number;
  /** The Kafka gateway's port, when rdmq start runs one. */
  kafkaPort?: number;
  /** Its log (stderr) so far, the last 64 KiB. */
  stderr(): string;
  /** SIGTERM and wait; removes the data unless keepData. */
  stop(options?: { keepData?: boolean }): Promise<void>;
  kill(): Promise<void>;
}

export interface ClusterOptions {
  dataDir?: string;
  durability?: 'none' | 'flush' | 'sync';
  regionSize?: string;
  segmentSize?: string;
  leaseTimeoutMs?: number;
  retentionCheckMs?: number;
  env?: NodeJS.ProcessEnv;
  extraArgs?: string[];
}

const MAIN = path.join(__dirname, '..', 'cli', 'main.js');

export async function startCluster(options: ClusterOptions = {}): Promise<ClusterProcess> {
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(base, 'rdmq-cluster-'));
  const args = [
    MAIN,
    'start',
    '--data', dataDir,
    '--control', '127.0.0.1:0',
    '--fastpath', '127.0.0.1:0',
    '--metrics', '127.0.0.1:0',
    '--kafka', '127.0.0.1:0',
    '--durability', options.durability ?? 'flush',
    '--region-size', options.regionSize ?? '512M',
    '--segment-size', options.segmentSize ?? '16M',
    '--lease-timeout-ms', String(options.leaseTimeoutMs ?? 2000),
    '--retention-check-ms', String(options.retentionCheckMs ?? 5000),
    ...(options.extraArgs ?? []),
  ];
  const role = await startRole<{ controlPort: number; fastpathPort: number; metricsPort: number; kafkaPort?: number }>(args, options.env);
  const { child, ready } = role;
  let stopping = false;
  child.once('exit', (code, signal) => {
    // A cluster that dies under a benchmark or test says why, instead of leaving its clients waiting.
    if (!stopping) process.stderr.write(`rdmq start (pid ${child.pid}) exited unexpectedly (${code ?? signal}):\n${role.stderr()}\n`);
  });
  const cleanup = (keepData?: boolean): void => {
    if (!keepData && !options.dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  };
  return {
    child,
    dataDir,
    control: `127.0.0.1:${ready.controlPort}`,
    fastpathPort: ready.fastpathPort,
    metricsPort: ready.metricsPort,
    kafkaPort: ready.kafkaPort,
    stderr: role.stderr,
    stop: async (o = {}) => {
      stopping = true;
      await role.signal('SIGTERM');
      cleanup(o.keepData);
    },
    kill: async () => {
      stopping = true;
      await role.signal('SIGKILL');
    },
  };
}

export interface RunningRole<T> {
  child: ChildProcess;
  /** The role's ready line. */
  ready: T;
  /** Its stderr so far (the last 64 KiB). */
  stderr(): string;
  /** Sends `name` (unless it has exited) and waits for the exit. */
  signal(name: NodeJS.Signals): Promise<void>;
}

/**
 * Spawns a Node script (`args[0]`, e.g. the rdmq CLI, then its arguments) and
 * waits for its ready line, a JSON object on stdout; rejects with its stderr
 * if it exits first. `options.prefix` is a command line that execs node in
 * the end (e.g. `ip netns exec NS`).
 */
export async function startRole<T>(args: string[], env: NodeJS.ProcessEnv = {}, options: { prefix?: string[] } = {}): Promise<RunningRole<T>> {
  // A prefix runs node through other commands that exec it (ip netns exec, setpriv), so the pid stays the role's.
  const [command, ...commandArgs] = [...(options.prefix ?? []), process.execPath, ...args];
  const child = spawn(command, commandArgs, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-65536);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await new Promise<T>((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).once('line', (line) => resolve(JSON.parse(line) as T));
    child.once('exit', (code, signal) => reject(new Error(`${args[0] === MAIN ? `rdmq ${args[1]}` : path.basename(args[0])} exited (${code ?? signal}) before it was ready:\n${stderr}`)));
  });
  return {
    child,
    ready,
    stderr: () => stderr,
    signal: async (name) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(name);
      await exited;
    },
  };
}

/**
 * A loopback port free now, for a role that is restarted at the same address.
 * Drawn below the kernel's ephemeral range (32768 and up on Linux), so that
 * while the role is down no other process's port-0 listener or outgoing
 * connection takes it, and its clients never reach a stranger. A port is
 * handed out once per process.
 */
export async function freeLoopbackPort(): Promise<number> {
  for (;;) {
    const port = FIXED_PORT_MIN + Math.floor(Math.random() * FIXED_PORT_SPAN);
    if (portsHandedOut.has(port)) continue;
    const server = net.createServer();
    const free = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!free) continue;
    await new Promise((resolve) => server.close(resolve));
    portsHandedOut.add(port);
    return port;
  }
}

const FIXED_PORT_MIN = 20_000;
const FIXED_PORT_SPAN = 12_000;
const portsHandedOut = new Set<number>();
