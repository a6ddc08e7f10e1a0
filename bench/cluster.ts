// Starts `rdmq start` in its own process for a benchmark or a test, with its
// data in a fresh temporary directory, and waits for its ready line. The one
// way tests and benchmarks spawn an rdmq role (startRole) and wait for it.
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
  /** The Kafka gateway's port. */
  kafkaPort: number;
  /** The Kafka bootstrap address, 127.0.0.1:kafkaPort. */
  kafka: string;
  /** Each Kafka listener's port, by listener name (--listeners). */
  kafkaPorts: Record<string, number>;
  /** The secret `rdmq start` made beside its data: other members (a gateway of its own, the CLI) pass it as --cluster-secret-file. */
  clusterSecretFile: string;
  /** Its log (stderr) so far, the last 64 KiB. */
  stderr(): string;
  /** Every log line that reports a handler failure or a crash, since it started (kept whole). */
  failures(): string[];
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
  autoCreateTopics?: boolean;
  /** Gateway limits (gateway/config.ts), each passed as its flag: { maxFrameBytes: 1 << 20 } is --max-frame-bytes 1048576. */
  gatewayLimits?: Record<string, number>;
  env?: NodeJS.ProcessEnv;
  /** V8 flags for the process, e.g. ['--max-old-space-size=512']. */
  nodeFlags?: string[];
  extraArgs?: string[];
  /** Commands that exec node in the end, e.g. ['setpriv', '--reuid=65534', ...] to run it as another user. */
  prefix?: string[];
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
    ...(options.autoCreateTopics === undefined ? [] : ['--auto-create-topics', String(options.autoCreateTopics)]),
    ...Object.entries(options.gatewayLimits ?? {}).flatMap(([key, value]) => [`--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, String(value)]),
    ...(options.extraArgs ?? []),
  ];
  type Ready = { controlPort: number; fastpathPort: number; metricsPort: number; kafkaPort?: number; kafkaPorts?: Record<string, number> };
  const role = await startRole<Ready>(args, options.env, { nodeFlags: options.nodeFlags, prefix: options.prefix }).catch((err: unknown) => {
    // It never started (tests of refused configurations do this on purpose): the directory made for it goes too.
    if (!options.dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    throw err;
  });
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
    kafkaPort: ready.kafkaPort!,
    kafka: `127.0.0.1:${ready.kafkaPort}`,
    kafkaPorts: ready.kafkaPorts ?? {},
    clusterSecretFile: path.join(dataDir, 'cluster-secret'),
    stderr: role.stderr,
    failures: role.failures,
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
  /** Every stderr line that reports a handler failure or a crash (kept whole, the first 1000). */
  failures(): string[];
  /** Sends `name` (unless it has exited) and waits for the exit. */
  signal(name: NodeJS.Signals): Promise<void>;
}

/**
 * Spawns a Node script (`args[0]`, e.g. the rdmq CLI, then its arguments) and
 * waits for its ready line, a JSON object on stdout; rejects with its stderr
 * if it exits first. `options.prefix` is a command line that execs node in
 * the end (e.g. `ip netns exec NS`).
 */
export async function startRole<T>(args: string[], env: NodeJS.ProcessEnv = {}, options: { prefix?: string[]; nodeFlags?: string[] } = {}): Promise<RunningRole<T>> {
  // A prefix runs node through other commands that exec it (ip netns exec, setpriv), so the pid stays the role's.
  const [command, ...commandArgs] = [...(options.prefix ?? []), process.execPath, ...(options.nodeFlags ?? []), ...args];
  const child = spawn(command, commandArgs, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const failures: string[] = [];
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-65536);
  });
  readline.createInterface({ input: child.stderr! }).on('line', (line) => {
    if (FAILURE_LINE.test(line) && failures.length < 1000) failures.push(line);
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
    failures: () => [...failures],
    signal: async (name) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(name);
      await exited;
    },
  };
}

/** A request handler that threw (the gateway logs it and closes that connection) or an uncaught exception. */
const FAILURE_LINE = /failed, closing the connection|TypeError|RangeError|ReferenceError|Uncaught/;

/**
 * A loopback port free now, for a role that is restarted at the same address.
 * Drawn below the kernel's ephemeral range (32768 and up on Linux), so that
 * while the role is down no other process's port-0 listener or outgoing
 * connection takes it, and its clients never reach a stranger. A port is
 * handed out once on this host while its process lives (claimPorts): suites
 * run side by side, and a port free now may be one another suite's etcd or
 * role is about to take, or takes again after a restart.
 */
export async function freeLoopbackPort(): Promise<number> {
  for (;;) {
    const port = FIXED_PORT_MIN + Math.floor(Math.random() * FIXED_PORT_SPAN);
    if (!claimPorts([port])) continue;
    if (await loopbackPortFree(port)) return port;
  }
}

const FIXED_PORT_MIN = 20_000;
const FIXED_PORT_SPAN = 12_000;
const CLAIMS_DIR = path.join(os.tmpdir(), 'rdmq-port-claims');

/** Whether nothing listens on `port` of 127.0.0.1 now. */
export function loopbackPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * Claims every one of `ports` for this process, or none of them: a file per
 * port names the process holding it, and a port whose holder is gone may be
 * claimed again. Every process on this host that picks fixed ports for tests,
 * benchmarks or the chaos run claims them here first.
 */
export function claimPorts(ports: number[]): boolean {
  fs.mkdirSync(CLAIMS_DIR, { recursive: true });
  const claimed: string[] = [];
  for (const port of ports) {
    const file = path.join(CLAIMS_DIR, String(port));
    if (!claimFile(file)) {
      for (const f of claimed) fs.rmSync(f, { force: true });
      return false;
    }
    claimed.push(file);
  }
  return true;
}

function claimFile(file: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number(fs.readFileSync(file, 'utf8'));
    if (holder === process.pid || processAlive(holder)) return false;
    fs.rmSync(file, { force: true }); // its holder is gone
  }
  return false;
}

function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export const ETCD_BINARY = '/usr/bin/etcd';

export interface RunningEtcd {
  url: string;
  child: ChildProcess;
  /** Sends `signal` (default SIGKILL) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * A one-member etcd for an HA broker group (Debian's etcd-server), data in
 * `dataDir` (use /dev/shm), on fixed loopback ports so a restart on the same
 * data is found where it was. Resolves once it accepts connections.
 */
export async function startEtcd(dataDir: string, ports: { client: number; peer: number }): Promise<RunningEtcd> {
  const url = `http://127.0.0.1:${ports.client}`;
  const peer = `http://127.0.0.1:${ports.peer}`;
  const child = spawn(
    ETCD_BINARY,
    [
      '--name', 'rdmq', '--data-dir', dataDir, '--listen-client-urls', url, '--advertise-client-urls', url,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `rdmq=${peer}`,
      '--log-level', 'error', '--listen-metrics-urls', '',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-8192)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`etcd exited (${child.exitCode}): ${stderr}`);
    if (await accepts(ports.client)) return { url, child, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`etcd did not listen on ${ports.client} within 15 s: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
