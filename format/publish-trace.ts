// Publish tracing: monotonic timestamps at the stages of a fast-path publish,
// for `rdmq bench --breakdown`. Compiled in everywhere, off unless the
// process starts with RDMQ_PUBLISH_TRACE=1; when off each hook is one branch
// on a constant (`if (publishTraceOn) markPublish(...)`). process.hrtime is
// CLOCK_MONOTONIC, shared by every process on a host, so marks taken by the
// broker in its own process line up with the client's. A process given
// RDMQ_PUBLISH_TRACE_FILE appends its marks there as JSON lines (the broker
// does, for the bench to join by publish id); otherwise they wait in memory
// until taken (the client, which is the bench itself).
import * as fs from 'fs';

// `let`, not const: the bench turns tracing on in its own process after loading (a live binding; still one branch).
export let publishTraceOn = process.env.RDMQ_PUBLISH_TRACE === '1';

/** Turns the marks on in this process (rdmq bench --breakdown, for its own client). */
export function enablePublishTrace(on = true): void {
  publishTraceOn = on;
  if (!on) marks.splice(0);
}

export interface PublishMark {
  stage: string;
  /** process.hrtime.bigint() as a decimal string in files; a number of ns in memory is not precise enough past 2^53. */
  atNs: bigint;
  /** The publish it belongs to when the stage can tell: `topicId:partition:baseOffset` of its first batch. */
  id: string;
}

/** Marks kept before the oldest are dropped (a bound, and a run of a few thousand publishes needs far fewer). */
const MARKS_MAX = 200_000;
const FLUSH_INTERVAL_MS = 100;
const marks: PublishMark[] = [];
const traceFile = publishTraceOn ? process.env.RDMQ_PUBLISH_TRACE_FILE : undefined;

export function publishId(topicId: number, partition: number, baseOffset: bigint): string {
  return `${topicId}:${partition}:${baseOffset}`;
}

/** Records that `stage` was reached now. Call only under `if (publishTraceOn)`. */
export function markPublish(stage: string, id = ''): void {
  if (marks.length >= MARKS_MAX) marks.shift();
  marks.push({ stage, atNs: process.hrtime.bigint(), id });
}

/** The marks taken since the last call, oldest first. */
export function takePublishMarks(): PublishMark[] {
  return marks.splice(0);
}

export function encodeMarks(list: PublishMark[]): string {
  return list.map((m) => JSON.stringify({ stage: m.stage, atNs: String(m.atNs), id: m.id })).join('\n') + (list.length > 0 ? '\n' : '');
}

export function decodeMarks(text: string): PublishMark[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const m = JSON.parse(line) as { stage: string; atNs: string; id: string };
      return { stage: m.stage, atNs: BigInt(m.atNs), id: m.id };
    });
}

if (traceFile) {
  // Off the hot path: a timer hands the marks to the file; the last ones at exit.
  const flush = (): void => {
    const list = takePublishMarks();
    if (list.length > 0) fs.appendFileSync(traceFile, encodeMarks(list));
  };
  setInterval(flush, FLUSH_INTERVAL_MS).unref();
  process.once('exit', flush);
}
