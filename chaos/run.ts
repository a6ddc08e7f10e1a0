// One chaos run: for each topology, start the cluster, load both doors with
// workload clients in their own processes, inject bounded rounds of faults
// (SIGKILL + restart, or SIGSTOP longer than the lease and session timeouts)
// chosen from a seed, then stop the load, restart the cluster cleanly, read
// every partition back through both doors and check the history.
import { ChildProcess, fork } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Rdmq } from '../rdma-client';
import { ANOMALY_KINDS, AnomalyKind, check, CheckResult, FinalRead, summaryLine } from './checker';
import { abandon, ClientKind, ClientSettings, Progress, withTimeout } from './clients/runtime';
import { Op, readHistory } from './history';
import { lastRecordOffsets, readThroughKafka, readThroughSdk } from './readback';
import { ClusterShape, CLUSTER_SHAPE_DEFAULT } from './cluster-topology';
import { ChaosTopology, createTopology, RoleName, TopologyKind } from './topology';

export type FaultKind = 'kill' | 'pause';

export interface ChaosOptions {
  /** Fault rounds over the whole run, shared by the topologies in proportion to their roles. */
  rounds: number;
  /** Time bound of the whole run (the final read and check come on top). */
  seconds: number;
  seed: number;
  faults: FaultKind[];
  topologies: TopologyKind[];
  outDir: string;
  recordsPerSecond: number;
  kafkaConsumers: number;
  leaseTimeoutMs: number;
  /** A door that does not move again within this after a fault is a stall. */
  recoveryTimeoutMs: number;
  regionSize: string;
  segmentSize: string;
  partitions: number;
  keepData: boolean;
  /** The members of the "cluster" topology (default 1 storage node, 1 broker, 2 gateways). */
  cluster?: ClusterShape;
  /** Deal faults only to roles whose name starts with one of these (e.g. "gateway"); default every role. */
  faultRoles?: string[];
  log: (line: string) => void;
}

export const CHAOS_DEFAULTS: Omit<ChaosOptions, 'seed' | 'outDir' | 'log'> = {
  rounds: 120,
  seconds: 2400,
  faults: ['kill', 'pause'],
  topologies: ['start', 'apart', 'cluster'],
  recordsPerSecond: 200,
  kafkaConsumers: 2,
  leaseTimeoutMs: 1500,
  recoveryTimeoutMs: 15_000,
  regionSize: '1G',
  segmentSize: '16M',
  partitions: 3,
  keepData: false,
};

/** kafkajs's session timeout in the workload (the broker's minimum): pauses go past it. */
const SESSION_TIMEOUT_MS = 6000;
const TOPIC = 'chaos';
const GROUP = 'chaos-group';

export interface Round {
  topology: TopologyKind;
  n: number;
  role: RoleName;
  fault: FaultKind;
  /** Wall-clock ms when the fault began, to line the round up with the histories. */
  startedAtMs: number;
  /** How long the role was down (kill: until restarted) or paused. */
  faultMs: number;
  /** Per flow (each door's producers and consumers), ms from the end of the fault until it moved again; undefined = stalled. */
  recoveredMs: Partial<Record<'kafka' | 'sdk' | 'kafka-reads' | 'sdk-reads', number>>;
}

export interface PhaseResult {
  topology: TopologyKind;
  rounds: Round[];
  stalls: string[];
  unexpectedExits: string[];
  seconds: number;
  acked: { kafka: number; sdk: number };
  readErrors: string[];
  result: CheckResult;
}

export interface ChaosResult {
  valid: boolean;
  seed: number;
  phases: PhaseResult[];
  summary: string;
  historyFile: string;
}

/** mulberry32: a small seeded generator, so a seed replays the same choices. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled<T>(items: T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

class Client {
  progress: Progress = { acked: 0, failed: 0, reads: 0, errors: 0 };
  private stopping = false;
  readonly exited: Promise<void>;
  constructor(
    readonly settings: ClientSettings,
    readonly child: ChildProcess,
    onUnexpectedExit: (c: Client, why: string) => void,
  ) {
    child.on('message', (m: { progress?: Progress }) => {
      if (m.progress) this.progress = m.progress;
    });
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        if (!this.stopping) onUnexpectedExit(this, `${code ?? signal}`);
        resolve();
      }),
    );
  }
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (this.child.connected) this.child.send('stop');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}

class Workload {
  readonly clients: Client[] = [];
  /** Acked and read counts of clients that have been replaced. */
  private readonly retired = { kafka: 0, sdk: 0, 'kafka-reads': 0, 'sdk-reads': 0 };
  readonly unexpectedExits: string[] = [];
  private incarnations = new Map<string, number>();

  constructor(
    private readonly topology: ChaosTopology,
    private readonly dir: string,
    private readonly options: ChaosOptions,
  ) {}

  start(kind: ClientKind, base: string): void {
    const incarnation = this.incarnations.get(base) ?? 0;
    this.incarnations.set(base, incarnation + 1);
    const name = `${base}i${incarnation}`;
    const settings: ClientSettings = {
      kind,
      name,
      historyFile: path.join(this.dir, `${name}.jsonl`),
      topic: TOPIC,
      partitions: this.options.partitions,
      kafka: this.topology.kafka,
      control: this.topology.control,
      group: GROUP,
      recordsPerSecond: this.options.recordsPerSecond,
      recordsPerSend: 5,
    };
    const log = fs.openSync(path.join(this.dir, `${name}.log`), 'a');
    const child = fork(path.join(__dirname, 'client.js'), [JSON.stringify(settings)], { stdio: ['ignore', log, log, 'ipc'] });
    fs.closeSync(log);
    this.clients.push(
      new Client(settings, child, (c, why) => {
        this.unexpectedExits.push(`${c.settings.name} exited (${why})`);
        const i = this.clients.indexOf(c);
        if (i >= 0) this.clients.splice(i, 1);
        this.retire(c);
        this.start(kind, base);
      }),
    );
  }

  private retire(c: Client): void {
    if (c.settings.kind === 'kafka-producer') this.retired.kafka += c.progress.acked;
    if (c.settings.kind === 'sdk-producer') this.retired.sdk += c.progress.acked;
    if (c.settings.kind === 'kafka-consumer') this.retired['kafka-reads'] += c.progress.reads;
    if (c.settings.kind === 'sdk-consumer') this.retired['sdk-reads'] += c.progress.reads;
  }

  count(flow: Flow): number {
    if (flow === 'kafka' || flow === 'sdk') return this.acked(flow);
    const kind = flow === 'kafka-reads' ? 'kafka-consumer' : 'sdk-consumer';
    return this.retired[flow] + this.clients.filter((c) => c.settings.kind === kind).reduce((n, c) => n + c.progress.reads, 0);
  }

  acked(door: 'kafka' | 'sdk'): number {
    const kind = door === 'kafka' ? 'kafka-producer' : 'sdk-producer';
    return this.retired[door] + this.clients.filter((c) => c.settings.kind === kind).reduce((n, c) => n + c.progress.acked, 0);
  }

  async stop(kinds: ClientKind[], timeoutMs: number): Promise<void> {
    const stopping = this.clients.filter((c) => kinds.includes(c.settings.kind));
    await Promise.all(stopping.map((c) => c.stop(timeoutMs)));
  }

  lastErrors(): string {
    return this.clients
      .filter((c) => c.progress.lastError)
      .map((c) => `${c.settings.name}: ${c.progress.lastError}`)
      .join('; ');
  }
}

type Flow = 'kafka' | 'sdk' | 'kafka-reads' | 'sdk-reads';
const FLOWS: Flow[] = ['kafka', 'sdk', 'kafka-reads', 'sdk-reads'];

/** Waits until each flow (producers acking, consumers reading, per door) moved past where it is now; ms per flow, undefined = stalled. */
async function waitForProgress(workload: Workload, timeoutMs: number): Promise<Partial<Record<Flow, number>>> {
  const since = Object.fromEntries(FLOWS.map((f) => [f, workload.count(f)])) as Record<Flow, number>;
  const started = Date.now();
  const out: Partial<Record<Flow, number>> = {};
  while (Date.now() - started < timeoutMs) {
    for (const f of FLOWS) if (out[f] === undefined && workload.count(f) > since[f]) out[f] = Date.now() - started;
    if (FLOWS.every((f) => out[f] !== undefined)) break;
    await sleep(100);
  }
  return out;
}

function flowName(f: Flow): string {
  return f === 'kafka' || f === 'sdk' ? `the ${f} door's producer acked` : `the ${f.replace('-reads', '')} door's consumers read`;
}

async function createTopic(control: string, partitions: number): Promise<void> {
  const admin = new Rdmq({ control }).admin();
  await withTimeout(admin.connect(), 15_000, 'admin connect');
  try {
    await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: partitions }] });
  } finally {
    await abandon(() => admin.disconnect());
  }
}

async function runPhase(kind: TopologyKind, rounds: number, seconds: number, random: () => number, options: ChaosOptions, runDir: string): Promise<PhaseResult> {
  const log = options.log;
  const dir = path.join(runDir, kind);
  fs.mkdirSync(dir, { recursive: true });
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const dataDir = fs.mkdtempSync(path.join(base, `rdmq-chaos-${kind}-`));
  const topology = await createTopology(
    { kind, dataDir, logDir: dir, regionSize: options.regionSize, segmentSize: options.segmentSize, leaseTimeoutMs: options.leaseTimeoutMs },
    options.cluster,
  );
  const workload = new Workload(topology, dir, options);
  const stalls: string[] = [];
  const done: Round[] = [];
  const readErrors: string[] = [];
  const reads: FinalRead[] = [];
  const phaseStart = Date.now();
  let loadSeconds = 0;
  try {
    await topology.startAll();
    await createTopic(topology.control, options.partitions);
    workload.start('kafka-producer', 'kp');
    workload.start('sdk-producer', 'sp');
    for (let i = 0; i < options.kafkaConsumers; i++) workload.start('kafka-consumer', `kc${i}`);
    workload.start('sdk-consumer', 'sc');
    const first = await waitForProgress(workload, 60_000);
    const idle = FLOWS.filter((f) => first[f] === undefined);
    if (idle.length > 0) throw new Error(`the workload never got going (${idle.join(', ')}): ${workload.lastErrors()}`);
    log(`[${kind}] cluster up (${topology.roleNames.join(', ')}), both doors producing and consuming; ${rounds} rounds within ${seconds} s`);

    // The time bound counts from the first fault; every role gets at least one round.
    const deadline = Date.now() + seconds * 1000;
    const roles = faultedRoles(topology.roleNames, options.faultRoles);
    let cycle: RoleName[] = [];
    for (let n = 1; n <= rounds && (n <= roles.length || Date.now() < deadline); n++) {
      for (const role of topology.roleNames) {
        if (topology.died(role)) {
          stalls.push(`[${kind}] rdmq ${role} exited by itself before round ${n}`);
          await topology.start(role);
        }
      }
      // Every role gets its share: each cycle of rounds visits the roles in a drawn order.
      if (cycle.length === 0) cycle = shuffled(roles, random);
      const role = cycle.shift()!;
      const fault = options.faults[Math.floor(random() * options.faults.length)];
      let faultMs: number;
      const startedAtMs = Date.now();
      if (fault === 'kill') {
        const downMs = Math.floor(random() * 1000);
        const t0 = Date.now();
        await topology.kill(role);
        await sleep(downMs);
        await topology.start(role);
        faultMs = Date.now() - t0;
      } else {
        // Longer than the lease, and mostly longer than the group session too.
        const low = options.leaseTimeoutMs + 500;
        const high = SESSION_TIMEOUT_MS + 2500;
        faultMs = Math.floor(low + random() * (high - low));
        topology.pause(role);
        await sleep(faultMs);
        topology.resume(role);
      }
      const recoveredMs = await waitForProgress(workload, options.recoveryTimeoutMs);
      const round: Round = { topology: kind, n, role, fault, startedAtMs, faultMs, recoveredMs };
      done.push(round);
      const show = (ms?: number): string => (ms === undefined ? 'STALLED' : `${(ms / 1000).toFixed(1)} s`);
      for (const f of FLOWS) {
        if (recoveredMs[f] === undefined) stalls.push(`[${kind}] round ${n} (${fault} ${role}): ${flowName(f)} nothing for ${options.recoveryTimeoutMs} ms after the fault (${workload.lastErrors()})`);
      }
      log(
        `[${kind} ${n}/${rounds}] ${fault} ${role} ${faultMs} ms; moving again after: ${FLOWS.map((f) => `${f} ${show(recoveredMs[f])}`).join(', ')}; ` +
          `acked so far kafka ${workload.acked('kafka')} sdk ${workload.acked('sdk')}`,
      );
      if (FLOWS.some((f) => recoveredMs[f] === undefined)) {
        // A stall is counted; the cluster is then healed (every role restarted
        // on its data) so the rounds after it still test something.
        log(`[${kind} ${n}/${rounds}] stalled: restarting every role to go on`);
        await topology.stopAll();
        await topology.startAll();
        await waitForProgress(workload, options.recoveryTimeoutMs);
      }
      await sleep(500 + Math.floor(random() * 1500));
    }

    // Wind down: everything up, the load stopped, then a clean restart so the read sees what is stored.
    for (const role of topology.roleNames) if (topology.died(role)) await topology.start(role);
    const end = await waitForProgress(workload, options.recoveryTimeoutMs);
    for (const f of FLOWS) if (end[f] === undefined) stalls.push(`[${kind}] at the end: ${flowName(f)} nothing for ${options.recoveryTimeoutMs} ms`);
    loadSeconds = (Date.now() - phaseStart) / 1000;
    await workload.stop(['kafka-producer', 'sdk-producer'], 60_000);
    await sleep(2000); // consumers read the tail
    await workload.stop(['kafka-consumer', 'sdk-consumer'], 20_000);
    await topology.stopAll();
    await topology.startAll();
    log(`[${kind}] load stopped, cluster restarted cleanly; reading every partition back through both doors`);
    try {
      const sdk = await readThroughSdk(topology.control, TOPIC, 120_000);
      reads.push(sdk.read);
      for (const e of sdk.errors) readErrors.push(e);
      const complete = new Map([...lastRecordOffsets(sdk.read)].filter(([p]) => sdk.read.partitions.find((x) => x.partition === p)?.complete));
      const kafka = await readThroughKafka(topology.kafka, TOPIC, complete, 120_000);
      reads.push(kafka.read);
      for (const e of kafka.errors) readErrors.push(e);
    } catch (err) {
      readErrors.push(`final read failed: ${(err as Error).message}`);
    }
  } finally {
    await workload.stop(['kafka-producer', 'sdk-producer', 'kafka-consumer', 'sdk-consumer'], 10_000);
    await topology.stopAll();
    if (!options.keepData) fs.rmSync(dataDir, { recursive: true, force: true });
  }
  // Concatenated, not spread: a history holds far more ops than a call has room for arguments.
  const ops: Op[] = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((file) => readHistory(path.join(dir, file)));
  // A partition no door could read is unreadable, not lost: give the checker an incomplete read of it.
  if (reads.length === 0) reads.push({ door: 'sdk', partitions: Array.from({ length: options.partitions }, (_, partition) => ({ partition, complete: false, logStartOffset: 0, highWatermark: 0, records: [] })) });
  // The final reads are kept beside the histories, so the check can be run again on them.
  fs.writeFileSync(path.join(dir, 'final-reads.json'), JSON.stringify(reads));
  const result = check(ops, reads);
  return {
    topology: kind,
    rounds: done,
    stalls,
    unexpectedExits: workload.unexpectedExits,
    seconds: loadSeconds,
    acked: { kafka: workload.acked('kafka'), sdk: workload.acked('sdk') },
    readErrors,
    result,
  };
}

/** The roles faults go to: every role, or those whose name starts with one of `prefixes`. */
function faultedRoles(all: RoleName[], prefixes: string[] | undefined): RoleName[] {
  if (!prefixes) return all;
  const roles = all.filter((r) => prefixes.some((p) => r.startsWith(p)));
  if (roles.length === 0) throw new Error(`no role matches ${prefixes.join(', ')} (roles: ${all.join(', ')})`);
  return roles;
}

function totals(phases: PhaseResult[]): Record<AnomalyKind, number> {
  const counts = Object.fromEntries(ANOMALY_KINDS.map((k) => [k, 0])) as Record<AnomalyKind, number>;
  for (const p of phases) for (const k of ANOMALY_KINDS) counts[k] += p.result.counts[k];
  return counts;
}

export function phaseLine(p: PhaseResult): string {
  const byRole = new Map<string, number>();
  for (const r of p.rounds) byRole.set(`${r.fault} ${r.role}`, (byRole.get(`${r.fault} ${r.role}`) ?? 0) + 1);
  const rate = p.seconds > 0 ? Math.round((p.acked.kafka + p.acked.sdk) / p.seconds) : 0;
  return (
    `[${p.topology}] ${p.rounds.length} rounds (${[...byRole].map(([k, n]) => `${k} ×${n}`).join(', ')}), ` +
    `${p.stalls.length} stalls, ${rate} acked/s held (kafka ${p.acked.kafka}, sdk ${p.acked.sdk} in ${p.seconds.toFixed(0)} s); ${summaryLine(p.result)}`
  );
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const random = seededRandom(options.seed);
  fs.mkdirSync(options.outDir, { recursive: true });
  const shape = options.cluster ?? CLUSTER_SHAPE_DEFAULT;
  const roleCount = (k: TopologyKind): number => (k === 'start' ? 1 : k === 'apart' ? 3 : k === 'ha' ? 4 : shape.storageNodes + shape.brokers + shape.gateways);
  const allRoles = options.topologies.reduce((n, k) => n + roleCount(k), 0);
  const phases: PhaseResult[] = [];
  options.log(`chaos: seed ${options.seed}, ${options.rounds} rounds within ${options.seconds} s over ${options.topologies.join(' and ')}; history in ${options.outDir}`);
  for (const kind of options.topologies) {
    const share = roleCount(kind) / allRoles;
    const phase = await runPhase(kind, Math.max(1, Math.round(options.rounds * share)), Math.max(10, Math.round(options.seconds * share)), random, options, options.outDir);
    phases.push(phase);
    options.log(phaseLine(phase));
    for (const a of phase.result.anomalies.slice(0, 10)) options.log(`  ${a.kind}: ${a.detail}`);
    for (const s of phase.stalls.slice(0, 5)) options.log(`  stall: ${s}`);
    for (const e of phase.readErrors.slice(0, 5)) options.log(`  read: ${e}`);
  }
  const counts = totals(phases);
  const anomalies = ANOMALY_KINDS.reduce((n, k) => n + counts[k], 0);
  const stalls = phases.reduce((n, p) => n + p.stalls.length, 0);
  const rounds = phases.reduce((n, p) => n + p.rounds.length, 0);
  const acked = phases.reduce((n, p) => n + p.acked.kafka + p.acked.sdk, 0);
  const seconds = phases.reduce((n, p) => n + p.seconds, 0);
  const stored = phases.reduce((n, p) => n + p.result.stats.storedRecords, 0);
  const failed = phases.reduce((n, p) => n + p.result.stats.failed + p.result.stats.indeterminate, 0);
  const failedVisible = phases.reduce((n, p) => n + p.result.stats.failedVisible + p.result.stats.indeterminateVisible, 0);
  const readErrors = phases.reduce((n, p) => n + p.readErrors.length, 0);
  // A final read that could not finish proves nothing either way: it fails the run too.
  const valid = anomalies === 0 && stalls === 0 && readErrors === 0;
  const summary =
    `chaos ${valid ? 'PASSED' : 'FAILED'}: seed ${options.seed}, ${rounds} rounds (${phases.map((p) => `${p.topology} ${p.rounds.length}`).join(', ')}), ` +
    `${acked} acked (${Math.round(acked / Math.max(1, seconds))}/s held), ${failed} failed or unanswered (${failedVisible} of them visible, allowed), ${stored} stored, ${anomalies} anomalies (${ANOMALY_KINDS.map((k) => `${k} ${counts[k]}`).join(', ')}), ${stalls} stalls, ${readErrors} final-read errors`;
  const historyFile = path.join(options.outDir, 'chaos-result.json');
  fs.writeFileSync(historyFile, JSON.stringify({ options: { ...options, log: undefined }, valid, summary, phases }, null, 1));
  return { valid, seed: options.seed, phases, summary, historyFile };
}
