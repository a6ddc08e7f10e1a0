// rdmq bench --breakdown: where the microseconds of one fast-path publish go.
// N publishes of one batch (8 KiB by default) through the SDK's send(), one
// at a time, each traced by the hooks of format/publish-trace.ts: the
// client's marks are taken in this process, the broker's come from the file
// its process appends to (RDMQ_PUBLISH_TRACE_FILE), joined by publish id
// (topic id, partition, base offset). All marks are CLOCK_MONOTONIC, so the
// gaps between processes (commit in flight, reply delivery) are real too.
// Without a broker of its own (--control) the broker's stages are unknown and
// the commit's round trip is shown whole.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { monitorEventLoopDelay } from 'perf_hooks';
import { decodeMarks, enablePublishTrace, markPublish, PublishMark, takePublishMarks } from '../format/publish-trace';
import { Connection, Producer, Rdmq } from '../rdma-client';
import { recordsShape } from './fastpath-target';
import { Layout } from './layouts';
import type { RoundTripFloor } from './limits';
import { formatSize, renderTable } from './sizes';

/** One stage: the time from mark `from` to mark `to` of a publish. */
interface StageSpec {
  name: string;
  /** Where it runs. */
  where: 'client' | 'broker' | 'between' | 'event loop';
  from: string;
  to: string;
}

/**
 * The stages in publish order; "event loop" ones are hops between a
 * completion and the code waiting for it. A send's mark comes before the
 * send (a UCX send may deliver before its call returns), so each stage ends
 * where the next begins and they add up to the total.
 */
export const STAGES: StageSpec[] = [
  { name: 'encode (records → batch, CRC)', where: 'client', from: 'send-start', to: 'encoded' },
  { name: 'stage (place in own segment)', where: 'client', from: 'encoded', to: 'placed' },
  { name: 'put (one-sided, to every copy)', where: 'client', from: 'placed', to: 'put-done' },
  { name: 'wait: put done → flush', where: 'event loop', from: 'put-done', to: 'flush-start' },
  { name: 'flush', where: 'client', from: 'flush-start', to: 'flush-done' },
  { name: 'commit message: encode, send → broker', where: 'between', from: 'flush-done', to: 'broker-received' },
  { name: 'broker: queue (partition serial)', where: 'broker', from: 'broker-received', to: 'broker-serial' },
  { name: 'broker: plan (partition state)', where: 'broker', from: 'broker-serial', to: 'broker-verified' },
  { name: 'broker: storage check + commit', where: 'broker', from: 'broker-verified', to: 'broker-persisted' },
  { name: 'broker: hop to reply', where: 'broker', from: 'broker-persisted', to: 'broker-committed' },
  { name: 'reply: send, delivery → client', where: 'between', from: 'broker-committed', to: 'reply-arrived' },
  { name: 'wait: reply → producer', where: 'event loop', from: 'reply-arrived', to: 'commit-replied' },
  { name: 'wait: producer → send() resolves', where: 'event loop', from: 'commit-replied', to: 'send-resolved' },
];

/** Shown beside the stages, overlapping them: how long the send calls themselves block. */
const SEND_CALLS: StageSpec[] = [
  { name: '(overlaps) client commit send call', where: 'client', from: 'flush-done', to: 'commit-sent' },
  { name: '(overlaps) broker reply send until done', where: 'broker', from: 'broker-committed', to: 'broker-replied' },
];

/** Used when the broker's marks are missing (an rdmq the bench did not start). */
const ROUND_TRIP: StageSpec = { name: 'commit round trip (broker unseen)', where: 'between', from: 'flush-done', to: 'reply-arrived' };
const TOTAL: StageSpec = { name: 'total: send() → resolved', where: 'client', from: 'send-start', to: 'send-resolved' };

export interface StageStats {
  name: string;
  where: string;
  count: number;
  p50Us: number;
  p99Us: number;
  meanUs: number;
}

export interface BreakdownResult {
  layout?: Layout;
  batchBytes: number;
  records: number;
  publishes: number;
  /** Untraced publishes before them (a fresh rdmq's path is slower until warm). */
  warmup: number;
  /** Publishes whose broker marks were found (0 when the broker was not started with tracing). */
  joined: number;
  stages: StageStats[];
  /** How late this process's 1 ms event-loop timer fired while publishing (perf_hooks, its 1 ms interval taken off). */
  eventLoopDelayUs: { p50: number; p99: number; max: number };
}

/** Stage times (µs) of publishes, from their marks by stage name. */
export function stageStats(publishes: Map<string, bigint>[], broker: boolean): StageStats[] {
  const clientOnly = (s: StageSpec): boolean => !s.from.startsWith('broker') && !s.to.startsWith('broker');
  const specs = broker ? [...STAGES, TOTAL, ...SEND_CALLS] : [...STAGES.filter(clientOnly).slice(0, 5), ROUND_TRIP, ...STAGES.filter(clientOnly).slice(5), TOTAL, ...SEND_CALLS.filter(clientOnly)];
  return specs.map((spec) => {
    const us = publishes
      .map((m) => (m.has(spec.from) && m.has(spec.to) ? Number(m.get(spec.to)! - m.get(spec.from)!) / 1e3 : undefined))
      .filter((v): v is number => v !== undefined)
      .sort((a, b) => a - b);
    const at = (q: number): number => (us.length === 0 ? NaN : us[Math.min(us.length - 1, Math.floor(q * us.length))]);
    return { name: spec.name, where: spec.where, count: us.length, p50Us: at(0.5), p99Us: at(0.99), meanUs: us.length === 0 ? NaN : us.reduce((a, b) => a + b, 0) / us.length };
  });
}

/**
 * One publish's marks by stage: the client's (taken between its send-start
 * and send-resolved; of repeated stages such as reply-arrived, the last before
 * the producer saw its reply) and the broker's for its id.
 */
export function publishMarks(client: PublishMark[], brokerById: Map<string, PublishMark[]>): { id: string; marks: Map<string, bigint> } {
  const marks = new Map<string, bigint>();
  let id = '';
  for (const m of client) {
    if (m.stage === 'placed' && id === '') id = m.id;
    if (m.stage === 'reply-arrived' && marks.has('commit-replied')) continue;
    if (m.stage === 'reply-arrived' || !marks.has(m.stage)) marks.set(m.stage, m.atNs);
  }
  for (const m of brokerById.get(id) ?? []) if (!marks.has(m.stage)) marks.set(m.stage, m.atNs);
  return { id, marks };
}

export interface BreakdownOptions {
  control: string;
  layout?: Layout;
  /** The file the broker's process appends its marks to (absent: the broker is not traced). */
  brokerTraceFile?: string;
  batchBytes: number;
  recordBytes: number;
  publishes: number;
  /** Untraced publishes first (default BREAKDOWN_WARMUP_DEFAULT). */
  warmup?: number;
}

/** Untraced publishes before the traced ones, unless told otherwise. */
export const BREAKDOWN_WARMUP_DEFAULT = 50;

const LOOP_RESOLUTION_MS = 1;

/** Runs the publishes and returns the per-stage times. */
export async function measureBreakdown(o: BreakdownOptions): Promise<BreakdownResult> {
  const admin = new Rdmq({ control: o.control }).admin();
  await admin.connect();
  const topic = `breakdown-${o.batchBytes}-${Date.now()}`;
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
  const connection = await Connection.open({ control: o.control });
  // Exclusive, one publish in flight: the latency of one publish, not of a queue.
  const producer = new Producer(connection, { mode: 'exclusive', stagingDepth: 1 });
  const { recordsPerSend, valueBytes } = recordsShape(o.batchBytes, o.recordBytes);
  const value = Buffer.alloc(valueBytes, 0x62);
  const loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  const traced: PublishMark[][] = [];
  const warmup = o.warmup ?? BREAKDOWN_WARMUP_DEFAULT;
  try {
    for (let i = 0; i < warmup; i++) await producer.send({ topic, messages: Array.from({ length: recordsPerSend }, () => ({ value })) });
    enablePublishTrace(true);
    loop.enable();
    for (let i = 0; i < o.publishes; i++) {
      takePublishMarks();
      const messages = Array.from({ length: recordsPerSend }, () => ({ value }));
      markPublish('send-start');
      await producer.send({ topic, messages });
      markPublish('send-resolved');
      traced.push(takePublishMarks());
    }
  } finally {
    loop.disable();
    enablePublishTrace(false);
    await producer.disconnect().catch(() => undefined);
    await connection.close();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
  const ids = traced.map((t) => t.find((m) => m.stage === 'placed')?.id ?? '');
  const brokerById = o.brokerTraceFile ? await brokerMarks(o.brokerTraceFile, ids[ids.length - 1]) : new Map<string, PublishMark[]>();
  const publishes = traced.map((t) => publishMarks(t, brokerById));
  const joined = publishes.filter((p) => p.marks.has('broker-received')).length;
  const lateUs = (ns: number): number => Math.max(0, Math.round(ns / 1e3 - LOOP_RESOLUTION_MS * 1e3));
  return {
    ...(o.layout ? { layout: o.layout } : {}),
    batchBytes: o.batchBytes,
    records: recordsPerSend,
    publishes: publishes.length,
    warmup,
    joined,
    stages: stageStats(
      publishes.map((p) => p.marks),
      joined > 0,
    ),
    eventLoopDelayUs: { p50: lateUs(loop.percentile(50)), p99: lateUs(loop.percentile(99)), max: lateUs(loop.max) },
  };
}

/** The broker's marks by publish id, once the one for `lastId` has reached the file (it is appended every 100 ms). */
async function brokerMarks(file: string, lastId: string): Promise<Map<string, PublishMark[]>> {
  const deadline = Date.now() + 5_000;
  let marks: PublishMark[] = [];
  for (;;) {
    marks = fs.existsSync(file) ? decodeMarks(fs.readFileSync(file, 'utf8')).filter((m) => m.stage.startsWith('broker-')) : [];
    if (marks.some((m) => m.id === lastId && m.stage === 'broker-replied') || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const byId = new Map<string, PublishMark[]>();
  for (const m of marks) {
    let list = byId.get(m.id);
    if (!list) byId.set(m.id, (list = []));
    list.push(m);
  }
  return byId;
}

/** A fresh file for a traced broker's marks, and the environment that turns its tracing on. */
export function brokerTraceSetup(): { file: string; env: NodeJS.ProcessEnv; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rdmq-trace-'));
  const file = path.join(dir, 'marks.jsonl');
  return { file, env: { RDMQ_PUBLISH_TRACE: '1', RDMQ_PUBLISH_TRACE_FILE: file }, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

const us = (v: number): string => (Number.isNaN(v) ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(1));

/** The line under a breakdown's title: the machine's floor under each process a publish crosses. */
export function roundTripFloorLine(f: RoundTripFloor): string {
  return (
    `This machine's floor, measured in the same run: one round trip between two processes (one byte each way on a Unix socket, blocking, native code, no event loop) ` +
    `p50 ${us(f.p50Us)} / p99 ${us(f.p99Us)} / p99.9 ${us(f.p999Us)} / max ${us(f.maxUs)} µs, ${f.over2msCount} of ${f.count} over 2 ms; a publish crosses processes at least twice (the put, the commit).`
  );
}

/** One table: a row per stage, p50 / p99 / mean per layout; with `floor`, the machine's round trip under the title. */
export function breakdownTable(results: BreakdownResult[], markdown = false, floor?: RoundTripFloor): string {
  const names = [...new Set(results.flatMap((r) => r.stages.map((s) => s.name)))];
  const where = new Map(results.flatMap((r) => r.stages.map((s) => [s.name, s.where] as [string, string])));
  const label = (r: BreakdownResult): string => r.layout ?? 'given rdmq';
  const header = ['stage', 'where', ...results.map((r) => `${label(r)} µs p50 / p99 / mean`)];
  const rows = names.map((name) => [
    name,
    where.get(name) ?? '',
    ...results.map((r) => {
      const s = r.stages.find((x) => x.name === name);
      return s ? `${us(s.p50Us)} / ${us(s.p99Us)} / ${us(s.meanUs)}` : '-';
    }),
  ]);
  rows.push(['event-loop timer late by (bench process)', 'event loop', ...results.map((r) => `${r.eventLoopDelayUs.p50} / ${r.eventLoopDelayUs.p99} / max ${r.eventLoopDelayUs.max}`)]);
  const title =
    results.map((r) => `${label(r)}: ${r.publishes} publishes of ${formatSize(r.batchBytes)} (${r.records} records${r.warmup !== undefined ? `, after ${r.warmup} untraced` : ''}), broker marks joined for ${r.joined}`).join('; ') +
    (floor ? `\n${markdown ? '\n' : ''}${roundTripFloorLine(floor)}` : '');
  if (!markdown) return `${title}\n${renderTable(header, rows)}`;
  return [`${title}\n`, `| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n') + '\n';
}
