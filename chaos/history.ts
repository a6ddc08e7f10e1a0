// The operation history a chaos run keeps, in the shape Jepsen's checkers
// use: every operation is invoked once and completes at most once, as `ok`
// (it happened), `fail` (the client reported an error: for a send this is
// indeterminate, the write may still have landed) or `info` (no answer: a
// timeout, a client that went away). Workload clients append one JSON line
// per event to their own file, so a crashed client loses nothing it wrote.
import * as fs from 'fs';

/** A produce of one unique value. `offset` on `ok` is where the ack says it landed. */
export interface SendOp {
  f: 'send';
  type: 'invoke' | 'ok' | 'fail' | 'info';
  door: 'kafka' | 'sdk';
  process: string;
  value: string;
  partition: number;
  offset?: number;
  error?: string;
  timeMs: number;
}

/** A consumer saw `value` at `offset` in its session `session`. */
export interface ReadOp {
  f: 'read';
  door: 'kafka' | 'sdk';
  process: string;
  group: string;
  session: string;
  partition: number;
  offset: number;
  value: string;
  timeMs: number;
}

/** A consumer committed `offset` (the next offset to read) for its group. */
export interface CommitOp {
  f: 'commit';
  type: 'invoke' | 'ok' | 'fail';
  process: string;
  group: string;
  partition: number;
  offset: number;
  error?: string;
  timeMs: number;
}

/** A consumer session began (a join, a restart): reads may start again from the group's commit. */
export interface SessionOp {
  f: 'session';
  process: string;
  group: string;
  session: string;
  partitions: number[];
  timeMs: number;
}

export type Op = SendOp | ReadOp | CommitOp | SessionOp;

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes on one host. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Appends ops to a file, one JSON line each, written synchronously. */
export class HistoryWriter {
  private readonly fd: number;
  constructor(readonly file: string) {
    this.fd = fs.openSync(file, 'a');
  }
  append(op: Op): void {
    fs.writeSync(this.fd, JSON.stringify(op) + '\n');
  }
  close(): void {
    fs.closeSync(this.fd);
  }
}

/** Reads a history file; a torn last line (a client killed mid-write) is ignored. */
export function readHistory(file: string): Op[] {
  const ops: Op[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      ops.push(JSON.parse(line) as Op);
    } catch {
      // only the last line can be torn
    }
  }
  return ops;
}
