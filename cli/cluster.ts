// `rdmq cluster start|status|stop|restart-member`: a local multi-process
// cluster for trying rdmq out (like `rpk container start -n 3`). The launcher
// starts every member of the plan (cli/cluster-plan.ts) as a process of its
// own, waits until the whole cluster serves, prints the bootstrap and control
// lines, and stops everything on SIGINT/SIGTERM. Members are started through
// `setpriv --pdeathsig TERM`, so they end even when the launcher is SIGKILLed.
// A member that dies is reported, not restarted (operators and the chaos
// run kill members on purpose); `rdmq cluster restart-member NAME` brings it
// back on its data and ports. The state (members, pids, addresses) is
// DIR/cluster.json; requests reach the launcher on the socket DIR/cluster.sock.
import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as path from 'path';
import * as readline from 'readline';
import { RunningRole, startRole } from '../bench/cluster';
import { ensureClusterSecret } from '../control-plane';
import { ClusterPlan, clusterSecretFileOf, ClusterSpec, MemberPlan, NETNS_CLIENT_UCX_ENV, planCluster } from './cluster-plan';

const MAIN = path.join(__dirname, 'main.js');
const NETNS_SCRIPT = path.join(__dirname, '..', '..', 'scripts', 'netns.sh');
const ETCD = '/usr/bin/etcd';
const STATE_FILE = 'cluster.json';
const SOCKET_FILE = 'cluster.sock';
const STOP_GRACE_MS = 15_000;
const LOG_TAIL_BYTES = 4096;

export interface MemberState {
  name: string;
  role: MemberPlan['role'];
  pid?: number;
  up: boolean;
  dataDir: string;
  netns?: string;
  addresses: MemberPlan['addresses'];
  log: string;
  /** Why it is down: "exited (code 1)", "killed (SIGKILL)", "stopped". */
  exit?: string;
  starts: number;
}

export interface ClusterState {
  launcherPid: number;
  dataDir: string;
  startedAt: string;
  /** True once every member served. */
  serving: boolean;
  bootstrap: string[];
  control: string[];
  etcd: string[];
  netns: boolean;
  members: MemberState[];
}

export class ClusterError extends Error {
  constructor(
    readonly code: 'CLUSTER_RUNNING' | 'CLUSTER_NOT_RUNNING' | 'MEMBER_FAILED' | 'NOT_SERVING' | 'NETNS_UNAVAILABLE' | 'UNKNOWN_MEMBER',
    message: string,
  ) {
    super(message);
  }
}

interface Member {
  plan: MemberPlan;
  state: MemberState;
  running?: RunningRole<unknown>;
  stopping: boolean;
}

type Log = (line: string) => void;

/** The running cluster, owned by the launcher process. */
export class LocalCluster {
  private readonly members: Member[];
  private socket?: net.Server;
  private stopped?: Promise<void>;

  private constructor(
    readonly plan: ClusterPlan,
    private readonly log: Log,
  ) {
    this.members = plan.members.map((p) => ({
      plan: p,
      stopping: false,
      state: { name: p.name, role: p.role, up: false, dataDir: p.dataDir, netns: p.netns, addresses: p.addresses, log: path.join(plan.spec.dataDir, `${p.name}.log`), starts: 0 },
    }));
  }

  /** Starts every member (etcd, storage nodes, brokers, gateways, in that order) and waits until the cluster serves. */
  static async start(spec: ClusterSpec, log: Log, readyTimeoutMs = 60_000): Promise<LocalCluster> {
    const plan = planCluster(spec);
    fs.mkdirSync(spec.dataDir, { recursive: true });
    ensureClusterSecret(clusterSecretFileOf(spec.dataDir));
    const previous = readState(spec.dataDir);
    if (previous && isAlive(previous.launcherPid) && previous.launcherPid !== process.pid) {
      throw new ClusterError('CLUSTER_RUNNING', `a cluster already runs on ${spec.dataDir} (launcher pid ${previous.launcherPid}); rdmq cluster stop --data ${spec.dataDir}`);
    }
    const cluster = new LocalCluster(plan, log);
    try {
      if (spec.netns) {
        netnsUp(plan.members.filter((m) => m.netns).length);
        // The launcher's own readiness probe is a fast-path client too (the addon is not loaded yet).
        Object.assign(process.env, NETNS_CLIENT_UCX_ENV);
      }
      for (const m of cluster.members) await cluster.startMember(m);
      await waitUntilServing(plan, readyTimeoutMs);
      cluster.writeState(true);
      await cluster.listen();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  get state(): ClusterState {
    return {
      launcherPid: process.pid,
      dataDir: this.plan.spec.dataDir,
      startedAt: new Date().toISOString(),
      serving: false,
      bootstrap: this.plan.bootstrap,
      control: this.plan.control,
      etcd: this.plan.etcd,
      netns: this.plan.spec.netns,
      members: this.members.map((m) => m.state),
    };
  }

  private writeState(serving: boolean): void {
    const file = path.join(this.plan.spec.dataDir, STATE_FILE);
    fs.writeFileSync(`${file}.tmp`, JSON.stringify({ ...this.state, serving }, null, 1));
    fs.renameSync(`${file}.tmp`, file);
  }

  private serving = false;

  private async startMember(m: Member): Promise<void> {
    const p = m.plan;
    if (p.dataDir) fs.mkdirSync(p.dataDir, { recursive: true });
    const prefix = [...(p.netns ? ['ip', 'netns', 'exec', p.netns] : []), ...pdeathsigPrefix()];
    // Between namespaces UCX must not try shared memory or CMA: TCP only (unless the operator chose).
    // eth0 is the namespace's veth: never its own loopback, which peers elsewhere would take for theirs.
    // In namespaces the bytes go over TCP: the storage node's Unix socket (and its CMA copies) would cross them,
    // since a namespace separates neither the filesystem nor the processes of one host.
    const env: NodeJS.ProcessEnv = p.netns ? { UCX_TLS: process.env.UCX_TLS ?? 'tcp', UCX_NET_DEVICES: 'eth0', RDMQ_LOCAL_DATA: 'off' } : {};
    const logFile = fs.createWriteStream(m.state.log, { flags: 'a' });
    logFile.write(`--- ${p.name} start ${m.state.starts + 1} ${new Date().toISOString()}\n`);
    let running: RunningRole<unknown>;
    try {
      running = p.role === 'etcd' ? await startEtcdMember(p, prefix) : await startRole<unknown>([MAIN, ...p.args], env, { prefix });
    } catch (err) {
      logFile.end(`${(err as Error).message}\n`);
      throw new ClusterError('MEMBER_FAILED', `${p.name} did not start: ${(err as Error).message.slice(-LOG_TAIL_BYTES)}`);
    }
    logFile.write(running.stderr());
    running.child.stderr!.pipe(logFile);
    m.running = running;
    m.stopping = false;
    m.state.starts++;
    Object.assign(m.state, { pid: running.child.pid, up: true, exit: undefined });
    running.child.once('exit', (code, signal) => {
      m.state.up = false;
      m.state.exit = m.stopping ? 'stopped' : code !== null ? `exited (code ${code})` : `killed (${signal})`;
      if (!m.stopping) this.log(`rdmq cluster: ${p.name} (pid ${running.child.pid}) ${m.state.exit}; not restarted (rdmq cluster restart-member ${p.name})`);
      if (this.stopped === undefined) this.writeState(this.serving);
    });
    this.log(`rdmq cluster: ${p.name} up (pid ${running.child.pid}${p.netns ? `, netns ${p.netns}` : ''}) ${describeAddresses(p)}`);
    this.writeState(this.serving);
  }

  /** Restarts a member that is down, on its data directory and ports. */
  async restartMember(name: string): Promise<MemberState> {
    const m = this.members.find((x) => x.plan.name === name);
    if (!m) throw new ClusterError('UNKNOWN_MEMBER', `no member ${name}; members: ${this.members.map((x) => x.plan.name).join(', ')}`);
    if (m.state.up) {
      m.stopping = true;
      await m.running?.signal('SIGTERM');
    }
    await this.startMember(m);
    return m.state;
  }

  /** The launcher's request socket: one JSON line in ({ restart: NAME } or { stop: true }), one out. */
  private async listen(): Promise<void> {
    const file = path.join(this.plan.spec.dataDir, SOCKET_FILE);
    fs.rmSync(file, { force: true });
    this.serving = true;
    this.socket = net.createServer((conn) => {
      readline.createInterface({ input: conn }).once('line', (line) => {
        let request: { restart?: string; stop?: boolean };
        try {
          request = JSON.parse(line);
        } catch {
          conn.end(JSON.stringify({ error: 'not JSON' }) + '\n');
          return;
        }
        if (request.stop) {
          conn.end(JSON.stringify({ ok: true }) + '\n');
          void this.stop().then(() => process.exit(0));
          return;
        }
        this.restartMember(String(request.restart)).then(
          (state) => conn.end(JSON.stringify({ ok: true, member: state }) + '\n'),
          (err: Error) => conn.end(JSON.stringify({ error: err.message }) + '\n'),
        );
      });
      conn.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => this.socket!.listen(file, resolve));
  }

  /** SIGTERM every member, gateways first, etcd last (SIGKILL after a grace period); namespaces removed. Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.socket?.close();
      for (const m of [...this.members].reverse()) {
        const running = m.running;
        if (!running) continue;
        m.stopping = true;
        if (m.state.up) running.child.kill('SIGCONT'); // a paused member cannot handle SIGTERM
        const killer = setTimeout(() => running.child.kill('SIGKILL'), STOP_GRACE_MS);
        await running.signal('SIGTERM');
        clearTimeout(killer);
      }
      if (this.plan.spec.netns) netnsDown();
      fs.rmSync(path.join(this.plan.spec.dataDir, SOCKET_FILE), { force: true });
      this.writeState(false);
    })();
    return this.stopped;
  }

  /** Kills every member at once (the launcher exits right after). */
  killAllNow(): void {
    for (const m of this.members) if (m.state.up) m.running?.child.kill('SIGKILL');
  }
}

function describeAddresses(p: MemberPlan): string {
  return Object.entries(p.addresses)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

let pdeathsig: string[] | undefined;
/** `setpriv --pdeathsig TERM`: the kernel signals the member when the launcher dies, however it dies. */
function pdeathsigPrefix(): string[] {
  if (pdeathsig === undefined) {
    try {
      execFileSync('setpriv', ['--pdeathsig', 'TERM', 'true'], { stdio: 'ignore' });
      pdeathsig = ['setpriv', '--pdeathsig', 'TERM'];
    } catch {
      process.stderr.write('rdmq cluster: setpriv --pdeathsig is unavailable (util-linux); members outlive a SIGKILLed launcher\n');
      pdeathsig = [];
    }
  }
  return pdeathsig;
}

/** etcd has no ready line: it is ready when /health says so. */
export async function startEtcdMember(p: MemberPlan, prefix: string[]): Promise<RunningRole<unknown>> {
  if (!fs.existsSync(ETCD)) throw new ClusterError('MEMBER_FAILED', `${ETCD} is missing: bash scripts/setup.sh installs it (Debian's etcd-server)`);
  const [command, ...args] = [...prefix, ETCD, ...p.args];
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => void (stderr = (stderr + chunk.toString()).slice(-65536)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`etcd exited (${child.exitCode ?? child.signalCode}):\n${stderr}`);
    if (await etcdHealthy(p.addresses.etcdClient!)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`etcd not healthy within 30 s:\n${stderr}`);
    }
    await sleep(200);
  }
  return {
    child,
    ready: {},
    stderr: () => stderr,
    failures: () => [],
    signal: async (name) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(name);
      await exited;
    },
  };
}

function etcdHealthy(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(`${url}/health`, { timeout: 1000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(/"health":\s*"true"/.test(body)));
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

/**
 * The cluster serves when the SDK's admin answers on a broker's control
 * address and a Kafka client bootstrapping from the list sees every gateway
 * in Metadata (a gateway is listed once it registered with the broker).
 */
async function waitUntilServing(plan: ClusterPlan, timeoutMs: number): Promise<void> {
  const { Rdmq } = await import('../rdma-client');
  const { Kafka, logLevel } = await import('kafkajs');
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const admin = new Rdmq({ control: plan.control[0] }).admin();
      await admin.connect();
      try {
        await admin.listTopics();
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
      const kafka = new Kafka({ clientId: 'rdmq-cluster', brokers: plan.bootstrap, logLevel: logLevel.NOTHING, retry: { retries: 0 }, connectionTimeout: 2000 });
      const kafkaAdmin = kafka.admin();
      await kafkaAdmin.connect();
      try {
        const { brokers } = await kafkaAdmin.describeCluster();
        const listed = new Set(brokers.map((b) => `${b.host}:${b.port}`));
        const missing = plan.bootstrap.filter((a) => !listed.has(a));
        if (missing.length === 0) return;
        last = `Metadata does not list ${missing.join(', ')} yet`;
      } finally {
        await kafkaAdmin.disconnect().catch(() => undefined);
      }
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(250);
  }
  throw new ClusterError('NOT_SERVING', `the cluster did not serve within ${timeoutMs} ms: ${last}`);
}

function netnsUp(count: number): void {
  try {
    execFileSync('bash', [NETNS_SCRIPT, 'up', String(count)], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    throw new ClusterError('NETNS_UNAVAILABLE', `network namespaces could not be set up (root and iproute2 needed): ${(err as { stderr?: Buffer }).stderr?.toString() ?? (err as Error).message}`);
  }
}

function netnsDown(): void {
  try {
    execFileSync('bash', [NETNS_SCRIPT, 'down'], { stdio: 'ignore' });
  } catch {
    // Reported by `scripts/netns.sh list`; nothing else to do on the way out.
  }
}

export function readState(dataDir: string): ClusterState | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dataDir, STATE_FILE), 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Up only if its pid is alive and still the member (its command line names its data directory), not a reused pid. */
export function memberAlive(m: MemberState): boolean {
  if (!m.up || !isAlive(m.pid)) return false;
  try {
    return fs.readFileSync(`/proc/${m.pid}/cmdline`, 'utf8').split('\0').includes(m.dataDir!);
  } catch {
    return false;
  }
}

/** Sends one request to a running launcher and returns its answer. */
export async function askLauncher(dataDir: string, request: object, timeoutMs = 90_000): Promise<{ ok?: boolean; error?: string; member?: MemberState }> {
  const state = readState(dataDir);
  if (!state || !isAlive(state.launcherPid)) throw new ClusterError('CLUSTER_NOT_RUNNING', `no cluster runs on ${dataDir}`);
  return new Promise((resolve, reject) => {
    const conn = net.connect(path.join(dataDir, SOCKET_FILE));
    const timer = setTimeout(() => conn.destroy(new Error(`the launcher did not answer within ${timeoutMs} ms`)), timeoutMs);
    conn.once('error', (err) => {
      clearTimeout(timer);
      reject(new ClusterError('CLUSTER_NOT_RUNNING', `cannot reach the launcher of ${dataDir}: ${err.message}`));
    });
    conn.once('close', () => {
      clearTimeout(timer);
      reject(new ClusterError('CLUSTER_NOT_RUNNING', `the launcher of ${dataDir} closed without an answer`));
    });
    // Written, not ended: the launcher's side closes when the other half does.
    conn.write(JSON.stringify(request) + '\n');
    readline.createInterface({ input: conn }).once('line', (line) => {
      clearTimeout(timer);
      resolve(JSON.parse(line));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
