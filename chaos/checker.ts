// The chaos checker: pure, from an operation history and the log as read back
// at the end, to a list of anomalies. Every check must be able to fail, and
// none may invent an anomaly out of something the system is allowed to do:
//
//   - a send that failed or got no answer is indeterminate (Jepsen's `info`):
//     its value may or may not appear, and either is fine; only a value that
//     was acknowledged (or read by a consumer) and is missing at the end is lost;
//   - a value stored at two offsets is a duplicate, whatever its send's outcome;
//   - one offset never carries two values, across the acks, both doors' final
//     reads and every consumer's observations;
//   - the stored batches cover every offset from the log start to the high
//     watermark; offsets in no batch (not even a skip marker) are a gap;
//   - within one consumer session a partition's offsets only increase and
//     skip no stored record;
//   - a session starts a partition at or before the group's last commit
//     (any commit invoked before it: an unacknowledged commit may have landed).
import type { CommitOp, Op, ReadOp, SendOp } from './history';

export type AnomalyKind =
  | 'lost'
  | 'duplicate'
  | 'offset-two-values'
  | 'ack-mismatch'
  | 'unmarked-gap'
  | 'backwards'
  | 'poll-skip'
  | 'resumed-after-commit'
  | 'phantom'
  | 'unreadable';

export const ANOMALY_KINDS: AnomalyKind[] = [
  'lost',
  'duplicate',
  'offset-two-values',
  'ack-mismatch',
  'unmarked-gap',
  'backwards',
  'poll-skip',
  'resumed-after-commit',
  'phantom',
  'unreadable',
];

export interface Anomaly {
  kind: AnomalyKind;
  partition?: number;
  offset?: number;
  value?: string;
  detail: string;
}

export interface StoredBatch {
  /** First and last offset the batch accounts for (BaseOffset .. BaseOffset + LastOffsetDelta). */
  first: number;
  last: number;
  kind: 'data' | 'skip-marker' | 'control';
}

export interface PartitionRead {
  partition: number;
  /** Read through to the high watermark; an incomplete read proves no loss. */
  complete: boolean;
  logStartOffset: number;
  highWatermark: number;
  records: { offset: number; value: string }[];
  /** The stored batches' offset ranges, when the door reads raw batches (the SDK does). */
  batches?: StoredBatch[];
}

export interface FinalRead {
  door: 'kafka' | 'sdk';
  partitions: PartitionRead[];
}

export interface CheckStats {
  sends: number;
  acked: number;
  failed: number;
  indeterminate: number;
  failedVisible: number;
  indeterminateVisible: number;
  reads: number;
  commits: number;
  sessions: number;
  storedRecords: number;
  skipMarkers: number;
}

export interface CheckResult {
  valid: boolean;
  counts: Record<AnomalyKind, number>;
  anomalies: Anomaly[];
  stats: CheckStats;
}

/** At most this many anomalies of one kind are listed; all are counted. */
const LISTED_PER_KIND_MAX = 50;

type SendOutcome = 'ok' | 'fail' | 'info';

interface SendRecord {
  value: string;
  partition: number;
  door: SendOp['door'];
  process: string;
  outcome: SendOutcome;
  ackOffset?: number;
}

/** One completion per invoke: ok wins (it happened), then fail, then info; no completion is info. */
function sendRecords(ops: Op[]): Map<string, SendRecord> {
  const sends = new Map<string, SendRecord>();
  const rank: Record<SendOutcome, number> = { info: 0, fail: 1, ok: 2 };
  for (const op of ops) {
    if (op.f !== 'send') continue;
    let s = sends.get(op.value);
    if (!s) {
      s = { value: op.value, partition: op.partition, door: op.door, process: op.process, outcome: 'info' };
      sends.set(op.value, s);
    }
    if (op.type === 'invoke') continue;
    if (rank[op.type] >= rank[s.outcome]) s.outcome = op.type;
    if (op.type === 'ok' && op.offset !== undefined) s.ackOffset = op.offset;
  }
  return sends;
}

class Report {
  readonly anomalies: Anomaly[] = [];
  readonly counts = Object.fromEntries(ANOMALY_KINDS.map((k) => [k, 0])) as Record<AnomalyKind, number>;
  add(a: Anomaly): void {
    this.counts[a.kind]++;
    if (this.counts[a.kind] <= LISTED_PER_KIND_MAX) this.anomalies.push(a);
  }
}

/** The read the checks count on: the SDK's raw read where there is one (it sees skip markers). */
function primaryRead(reads: FinalRead[]): FinalRead | undefined {
  return reads.find((r) => r.door === 'sdk') ?? reads[0];
}

export function check(ops: Op[], reads: FinalRead[]): CheckResult {
  const report = new Report();
  const sends = sendRecords(ops);
  const primary = primaryRead(reads);
  const primaryByPartition = new Map((primary?.partitions ?? []).map((p) => [p.partition, p]));

  checkOffsetsHoldOneValue(ops, sends, reads, report);
  const stored = checkStoredValues(sends, reads, primary, report);
  checkLost(ops, sends, reads, report);
  for (const p of primary?.partitions ?? []) checkCoverage(p, report);
  const recordOffsets = new Map([...primaryByPartition].map(([partition, read]) => [partition, read.records.map((r) => r.offset).sort((a, b) => a - b)]));
  checkSessions(ops, recordOffsets, primaryByPartition, report);

  let failedVisible = 0;
  let indeterminateVisible = 0;
  for (const s of sends.values()) {
    if (!stored.has(s.value)) continue;
    if (s.outcome === 'fail') failedVisible++;
    if (s.outcome === 'info') indeterminateVisible++;
  }
  const all = [...sends.values()];
  const stats: CheckStats = {
    sends: all.length,
    acked: all.filter((s) => s.outcome === 'ok').length,
    failed: all.filter((s) => s.outcome === 'fail').length,
    indeterminate: all.filter((s) => s.outcome === 'info').length,
    failedVisible,
    indeterminateVisible,
    reads: ops.filter((o) => o.f === 'read').length,
    commits: ops.filter((o) => o.f === 'commit' && o.type === 'ok').length,
    sessions: ops.filter((o) => o.f === 'session').length,
    storedRecords: primary ? primary.partitions.reduce((n, p) => n + p.records.length, 0) : 0,
    skipMarkers: primary ? primary.partitions.reduce((n, p) => n + (p.batches ?? []).filter((b) => b.kind === 'skip-marker').length, 0) : 0,
  };
  return { valid: report.anomalies.length === 0, counts: report.counts, anomalies: report.anomalies, stats };
}

/** Every source that ties an offset to a value: acks, final reads, consumers. */
function checkOffsetsHoldOneValue(ops: Op[], sends: Map<string, SendRecord>, reads: FinalRead[], report: Report): void {
  const seen = new Map<string, Map<string, string>>(); // "p:o" → value → first source
  const note = (partition: number, offset: number, value: string, source: string): void => {
    const key = `${partition}:${offset}`;
    let values = seen.get(key);
    if (!values) seen.set(key, (values = new Map()));
    if (!values.has(value)) values.set(value, source);
  };
  for (const s of sends.values()) if (s.outcome === 'ok' && s.ackOffset !== undefined) note(s.partition, s.ackOffset, s.value, `ack to ${s.process}`);
  for (const read of reads) for (const p of read.partitions) for (const r of p.records) note(p.partition, r.offset, r.value, `final ${read.door} read`);
  for (const op of ops) if (op.f === 'read') note(op.partition, op.offset, op.value, `${op.process} session ${op.session}`);
  for (const [key, values] of seen) {
    if (values.size < 2) continue;
    const [partition, offset] = key.split(':').map(Number);
    report.add({
      kind: 'offset-two-values',
      partition,
      offset,
      detail: `offset ${offset} of partition ${partition} holds ${[...values].map(([v, source]) => `${v} (${source})`).join(' and ')}`,
    });
  }
}

/** Duplicates, phantoms and acks that name another offset; returns the values stored. */
function checkStoredValues(sends: Map<string, SendRecord>, reads: FinalRead[], primary: FinalRead | undefined, report: Report): Set<string> {
  const stored = new Set<string>();
  const duplicates = new Set<string>();
  const phantoms = new Set<string>();
  for (const read of reads) {
    for (const p of read.partitions) {
      const at = new Map<string, number[]>();
      for (const r of p.records) {
        stored.add(r.value);
        const offsets = at.get(r.value) ?? [];
        offsets.push(r.offset);
        at.set(r.value, offsets);
      }
      for (const [value, offsets] of at) {
        const send = sends.get(value);
        if (offsets.length > 1 && !duplicates.has(value)) {
          duplicates.add(value);
          report.add({ kind: 'duplicate', partition: p.partition, value, detail: `${value} (${send ? `${send.door} send, ${send.outcome}` : 'never sent'}) stored at offsets ${offsets.join(', ')} of partition ${p.partition} (${read.door} read)` });
        }
        if ((!send || send.partition !== p.partition) && !phantoms.has(value)) {
          phantoms.add(value);
          report.add({ kind: 'phantom', partition: p.partition, value, detail: `${value} at partition ${p.partition} offset ${offsets[0]} was never sent to that partition` });
        }
        if (send?.outcome === 'ok' && send.ackOffset !== undefined && !offsets.includes(send.ackOffset) && read === primary) {
          report.add({ kind: 'ack-mismatch', partition: p.partition, value, detail: `${value} was acknowledged at offset ${send.ackOffset} but is stored at ${offsets.join(', ')}` });
        }
      }
    }
  }
  return stored;
}

/** Acknowledged or consumed values missing from a complete final read. */
function checkLost(ops: Op[], sends: Map<string, SendRecord>, reads: FinalRead[], report: Report): void {
  const mustExist = new Map<string, { partition: number; why: string }>();
  for (const s of sends.values()) if (s.outcome === 'ok') mustExist.set(s.value, { partition: s.partition, why: `acknowledged to ${s.process}${s.ackOffset === undefined ? '' : ` at offset ${s.ackOffset}`}` });
  for (const op of ops) {
    if (op.f === 'read' && !mustExist.has(op.value)) mustExist.set(op.value, { partition: op.partition, why: `read by ${op.process} at offset ${op.offset}` });
  }
  const valuesByDoor = reads.map((read) => ({
    door: read.door,
    partitions: new Map(read.partitions.map((p) => [p.partition, { complete: p.complete, values: new Set(p.records.map((r) => r.value)) }])),
  }));
  for (const [value, { partition, why }] of mustExist) {
    const missingFrom: string[] = [];
    const unreadIn: string[] = [];
    for (const door of valuesByDoor) {
      const p = door.partitions.get(partition);
      if (p?.values.has(value)) continue;
      if (p?.complete) missingFrom.push(door.door);
      else unreadIn.push(door.door);
    }
    if (missingFrom.length > 0) report.add({ kind: 'lost', partition, value, detail: `${value} (${why}) is missing from partition ${partition} in the final ${missingFrom.join(' and ')} read` });
    else if (unreadIn.length > 0 && unreadIn.length === valuesByDoor.length) report.add({ kind: 'unreadable', partition, value, detail: `${value} (${why}): partition ${partition} could not be read to its end` });
  }
}

/** Stored batches must account for every offset from the log start to the high watermark, once. */
function checkCoverage(p: PartitionRead, report: Report): void {
  if (!p.batches) return;
  const batches = [...p.batches].sort((a, b) => a.first - b.first);
  let next = p.logStartOffset;
  for (const b of batches) {
    if (b.last < next) {
      if (b.first >= p.logStartOffset) report.add({ kind: 'offset-two-values', partition: p.partition, offset: b.first, detail: `partition ${p.partition}: a ${b.kind} batch for offsets ${b.first}..${b.last} overlaps earlier batches (offsets handed out twice)` });
      continue;
    }
    if (b.first > next) report.add({ kind: 'unmarked-gap', partition: p.partition, offset: next, detail: `partition ${p.partition}: offsets ${next}..${b.first - 1} are in no batch and no skip marker` });
    else if (b.first < next && b.first >= p.logStartOffset) report.add({ kind: 'offset-two-values', partition: p.partition, offset: b.first, detail: `partition ${p.partition}: a ${b.kind} batch for offsets ${b.first}..${b.last} overlaps earlier batches (offsets handed out twice)` });
    next = b.last + 1;
  }
  if (p.complete && next < p.highWatermark) report.add({ kind: 'unmarked-gap', partition: p.partition, offset: next, detail: `partition ${p.partition}: offsets ${next}..${p.highWatermark - 1} below the high watermark are in no batch` });
}

/** The first index in sorted `xs` whose value is >= x. */
function lowerBound(xs: number[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Consumers: monotonic within a session, no skipped record, resumes at or before the commit. */
function checkSessions(ops: Op[], recordOffsets: Map<number, number[]>, reads: Map<number, PartitionRead>, report: Report): void {
  const commitsByGroup = new Map<string, CommitOp[]>();
  for (const op of ops) {
    if (op.f !== 'commit' || op.type !== 'invoke') continue;
    const list = commitsByGroup.get(op.group) ?? [];
    list.push(op);
    commitsByGroup.set(op.group, list);
  }
  const last = new Map<string, ReadOp>(); // "process/session/partition" → last read
  for (const op of ops) {
    if (op.f !== 'read') continue;
    const key = `${op.process}/${op.session}/${op.partition}`;
    const offsets = recordOffsets.get(op.partition) ?? [];
    const previous = last.get(key);
    last.set(key, op);
    if (previous) {
      if (op.offset <= previous.offset) {
        report.add({ kind: 'backwards', partition: op.partition, offset: op.offset, detail: `${op.process} session ${op.session} read partition ${op.partition} offset ${op.offset} after offset ${previous.offset}` });
        continue;
      }
      const skipped = offsets[lowerBound(offsets, previous.offset + 1)];
      if (skipped !== undefined && skipped < op.offset) {
        report.add({ kind: 'poll-skip', partition: op.partition, offset: skipped, detail: `${op.process} session ${op.session} read partition ${op.partition} offset ${previous.offset} then ${op.offset}, skipping the stored record at ${skipped}` });
      }
      continue;
    }
    // The session's first read of this partition: no later than the group's last commit.
    let committed = reads.get(op.partition)?.logStartOffset ?? 0;
    for (const c of commitsByGroup.get(op.group) ?? []) if (c.partition === op.partition && c.timeMs <= op.timeMs && c.offset > committed) committed = c.offset;
    const expected = offsets[lowerBound(offsets, committed)];
    if (expected !== undefined && op.offset > expected) {
      report.add({
        kind: 'resumed-after-commit',
        partition: op.partition,
        offset: op.offset,
        detail: `${op.process} session ${op.session} (group ${op.group}) started partition ${op.partition} at offset ${op.offset}; the last commit was ${committed} and the stored record at ${expected} was never read by it`,
      });
    }
  }
}

/** One line: the counts that matter. */
export function summaryLine(result: CheckResult): string {
  const s = result.stats;
  const anomalies = ANOMALY_KINDS.map((k) => `${k}=${result.counts[k]}`).join(' ');
  return (
    `${result.valid ? 'VALID' : 'INVALID'}: ${s.sends} sends (${s.acked} acked, ${s.failed} failed, ${s.indeterminate} indeterminate; ` +
    `${s.failedVisible + s.indeterminateVisible} of those visible), ${s.storedRecords} stored, ${s.skipMarkers} skip markers, ` +
    `${s.reads} consumer reads in ${s.sessions} sessions, ${s.commits} commits; anomalies: ${anomalies}`
  );
}
