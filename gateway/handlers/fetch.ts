// Fetch: committed batches exactly as stored, read with one-sided gets. The
// request long-polls: it answers once min_bytes are ready or max_wait_ms has
// passed, woken by the broker's watermark pushes (never by polling).
//
// Sizes follow KIP-74: partitions are filled in request order within
// max_bytes and each within its partition_max_bytes, except that the first
// batch of the first partition with data is returned whole, however large, so
// a consumer can always make progress. Every other partition returns only
// whole batches that fit (Kafka would add a partial one; clients drop it).
//
// No fetch sessions (KIP-227): session id 0 in every answer makes clients send
// full fetches, which Kafka allows.
import { splitBatches } from '../../format';
import { PartitionFetcher } from '../../rdma-client';
import { errorCode, RecordsInput, RequestBody, ResponseInput } from '../protocol';
import { topicIdFromUuid } from '../broker-view';
import { refusal } from '../authorization';
import { DataContext, Handler, RequestContext } from '../context';
import { kafkaError, KafkaErrorValue, toKafkaError } from '../errors';

type FetchPartitionResponse = NonNullable<NonNullable<ResponseInput<'Fetch'>['responses']>[number]['partitions']>[number];

interface Wanted {
  topic: string;
  /** As the request named it (v13+), echoed in the response. */
  topicId: Buffer;
  /** v13+: no topic has the id asked for. */
  unknownTopicId?: boolean;
  /** The principal may not READ the topic. */
  denied?: KafkaErrorValue;
  partition: number;
  fetchOffset: bigint;
  partitionMaxBytes: number;
}

interface Read {
  response: FetchPartitionResponse;
  bytes: number;
  /** Gives the read's buffers back to the fetchers' pool (FetchChunks.release): once the answer is written, or at once when it is dropped. */
  release?: () => void;
  /** Set when the partition can be waited on for more data (it has no error). */
  waitAt?: { fetcher: PartitionFetcher; offset: bigint };
}

const EMPTY = Buffer.alloc(0);
const OFFSET_OUT_OF_RANGE = 1;
// A fenced range (corrupt at recovery): the reader is fine, the range is not; recovery logged it once.
const CORRUPT_MESSAGE = 2;

export const fetch: Handler<'Fetch', DataContext> = async (body, call) => {
  const gw = call.gateway;
  if (body.sessionId !== 0) {
    return { throttleTimeMs: 0, errorCode: errorCode('FETCH_SESSION_ID_NOT_FOUND'), sessionId: 0, responses: [] };
  }
  const byId = call.apiVersion >= 13;
  const names = await Promise.all(body.topics.map((t) => (byId ? topicNameOf(gw, t.topicId) : Promise.resolve(t.topic))));
  const wanted: Wanted[] = body.topics.flatMap((t, i) =>
    t.partitions.map((p) => ({
      topic: names[i] ?? '',
      topicId: t.topicId,
      unknownTopicId: names[i] === undefined,
      denied: names[i] === undefined ? undefined : (refusal(call, 'READ', 'TOPIC', names[i]!) ?? undefined),
      partition: p.partition,
      fetchOffset: p.fetchOffset,
      partitionMaxBytes: p.partitionMaxBytes,
    })),
  );
  const waitMs = Math.min(Math.max(body.maxWaitMs, 0), gw.limits.maxFetchWaitMs);
  const deadline = Date.now() + waitMs;
  const maxBytes = Math.min(Math.max(body.maxBytes, 0), gw.limits.maxFetchResponseBytes);
  const readCommitted = body.isolationLevel === 1;
  if (wanted.length === 0) {
    // Nothing to read: like Kafka, answer after max_wait_ms, so an idle client does not spin.
    await new Promise((resolve) => setTimeout(resolve, waitMs));
    return { throttleTimeMs: 0, errorCode: 0, sessionId: 0, responses: [] };
  }
  // Read-aheads from a storage node in this process are this process's work: they start once the answer is in the socket.
  const answered = call.afterWrite ? new Promise<void>((resolve) => call.afterWrite!(resolve)) : undefined;
  for (;;) {
    // Response memory is shared by every connection: take max_bytes before reading, wait for it no longer than the fetch may wait.
    const reservedBytes = (await gw.fetchMemory.take(maxBytes, Math.max(deadline - Date.now(), 0))) ? maxBytes : 0;
    let reads: Read[];
    try {
      reads = await readAll(gw, wanted, reservedBytes, readCommitted, answered);
    } catch (err) {
      gw.fetchMemory.give(reservedBytes);
      throw err;
    }
    const total = reads.reduce((n, r) => n + r.bytes, 0);
    const remainingMs = deadline - Date.now();
    const waitable = reads.flatMap((r) => (r.waitAt ? [r.waitAt] : []));
    const anyError = reads.some((r) => r.response.errorCode !== 0);
    if (total >= body.minBytes || remainingMs <= 0 || anyError || waitable.length === 0) {
      holdUntilWritten(gw, call, reservedBytes, total, () => releaseAll(reads));
      return { throttleTimeMs: 0, errorCode: 0, sessionId: 0, responses: group(wanted, reads) };
    }
    // These reads are dropped: the next round reads again.
    releaseAll(reads);
    gw.fetchMemory.give(reservedBytes);
    await waitForAny(waitable, remainingMs);
  }
};

/**
 * Keeps the response's bytes on the fetch budget, and the buffers they are
 * views of out of the pool (`release`), until they are written (the first
 * batch may exceed max_bytes, KIP-74); gives the rest of the budget back now.
 * Buffers go back to the pool only once the connection says the answer was
 * written.
 */
function holdUntilWritten(gw: DataContext, call: RequestContext<DataContext>, reservedBytes: number, responseBytes: number, release: () => void): void {
  if (responseBytes > reservedBytes) gw.fetchMemory.force(responseBytes - reservedBytes);
  else gw.fetchMemory.give(reservedBytes - responseBytes);
  if (responseBytes === 0) return release();
  if (call.afterWrite) {
    call.afterWrite(() => {
      gw.fetchMemory.give(responseBytes);
      release();
    });
    return;
  }
  // Answered for a caller that does not say when the answer is written (a request forwarded from
  // another gateway): its buffers may still be read after this returns, so they are left to the GC.
  gw.fetchMemory.give(responseBytes);
}

function releaseAll(reads: Read[]): void {
  for (const r of reads) r.release?.();
}

/**
 * Reads every partition once, in request order, within the response budget.
 * Partitions are read in windows whose limits fit in what is left of the
 * budget, so memory stays near max_bytes however many partitions are asked.
 */
async function readAll(gw: DataContext, wanted: Wanted[], maxBytes: number, readCommitted: boolean, answered?: Promise<void>): Promise<Read[]> {
  const reads: Read[] = [];
  let used = 0;
  let next = 0;
  while (next < wanted.length) {
    const remaining = Math.max(maxBytes - used, 0);
    const window: { w: Wanted; limit: number }[] = [];
    let planned = 0;
    while (next < wanted.length) {
      const limit = Math.min(Math.max(wanted[next].partitionMaxBytes, 0), remaining);
      if (window.length > 0 && planned + limit > remaining) break;
      window.push({ w: wanted[next], limit });
      planned += limit;
      next++;
    }
    const raw = await Promise.all(window.map(({ w, limit }) => readPartition(gw, w, limit, readCommitted, answered)));
    for (const read of raw) {
      if (read.bytes === 0) {
        reads.push(read);
        continue;
      }
      const kept = wholeBatchesWithin(read.response.records as Buffer[], Math.min(maxBytes - used, read.partitionLimit), used === 0);
      used += kept.sizeBytes;
      reads.push({ ...read, bytes: kept.sizeBytes, response: { ...read.response, records: kept.chunks } });
    }
  }
  return reads;
}

async function readPartition(gw: DataContext, w: Wanted, limitBytes: number, readCommitted: boolean, answered?: Promise<void>): Promise<Read & { partitionLimit: number }> {
  const done = (response: FetchPartitionResponse, bytes = 0, waitAt?: Read['waitAt']) => ({ response, bytes, waitAt, partitionLimit: limitBytes });
  if (w.unknownTopicId) return done(failed(w.partition, kafkaError('UNKNOWN_TOPIC_ID', `no topic has id ${w.topicId.toString('hex')}`)));
  if (w.denied) return done(failed(w.partition, w.denied));
  const topic = await gw.catalog.lookup(w.topic, w.partition);
  if (!topic) {
    return done(failed(w.partition, kafkaError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${w.topic}' partition ${w.partition} does not exist`)));
  }
  const reader = () => gw.fetchers.get(topic.name, topic.topicId, w.partition);
  let fetcher: PartitionFetcher;
  let logStartOffset: bigint;
  let highWatermark: bigint;
  try {
    ({ logStartOffset, highWatermark } = await gw.catalog.offsetsFor(topic, w.partition, w.fetchOffset, reader));
    if (w.fetchOffset < logStartOffset || w.fetchOffset > highWatermark) {
      return done(failed(w.partition, kafkaError('OFFSET_OUT_OF_RANGE', `offset ${w.fetchOffset} is outside ${logStartOffset}..${highWatermark}`)));
    }
    fetcher = await reader();
  } catch (err) {
    const error = toKafkaError(err);
    if (error.name === 'UNKNOWN_TOPIC_OR_PARTITION') gw.catalog.invalidate(topic.name);
    return done(failed(w.partition, error));
  }
  const ok = (records: RecordsInput): FetchPartitionResponse => ({
    partitionIndex: w.partition,
    errorCode: 0,
    highWatermark,
    lastStableOffset: highWatermark,
    logStartOffset,
    abortedTransactions: readCommitted ? [] : null,
    records,
  });
  // Waiting means: until the reader sees more than it has now. It may lag the broker by one push.
  const waitAt = () => ({ fetcher, offset: maxOf(fetcher.highWatermark, w.fetchOffset) });
  if (w.fetchOffset === highWatermark || limitBytes === 0) return done(ok(EMPTY), 0, waitAt());
  try {
    const result = await fetcher.fetchChunks(w.fetchOffset, limitBytes, answered);
    return { ...done(ok(result.chunks), result.sizeBytes, waitAt()), release: result.release };
  } catch (err) {
    const error = toKafkaError(err);
    if (error.code !== OFFSET_OUT_OF_RANGE && error.code !== CORRUPT_MESSAGE) {
      gw.log(`fetch from ${w.topic}-${w.partition} at ${w.fetchOffset} failed: ${error.name}: ${error.message}`);
      gw.fetchers.drop(topic.topicId, w.partition);
    }
    return done(failed(w.partition, error));
  }
}

/** The leading whole batches of `chunks` (each holds whole batches) that fit in `limitBytes`; with `keepFirst`, at least one. */
export function wholeBatchesWithin(chunks: readonly Buffer[], limitBytes: number, keepFirst: boolean): { chunks: Buffer[]; sizeBytes: number } {
  let total = 0;
  for (const c of chunks) total += c.length;
  if (total <= limitBytes) return { chunks: [...chunks], sizeBytes: total };
  const kept: Buffer[] = [];
  let end = 0;
  for (const chunk of chunks) {
    let chunkEnd = 0;
    for (const span of splitBatches(chunk, { batchBytesMax: 0x7fffffff }).batches) {
      const spanEnd = end + span.offset + span.length;
      if (spanEnd > limitBytes && !(keepFirst && end + chunkEnd === 0)) break;
      chunkEnd = span.offset + span.length;
    }
    if (chunkEnd > 0) kept.push(chunkEnd === chunk.length ? chunk : chunk.subarray(0, chunkEnd));
    end += chunkEnd;
    if (chunkEnd < chunk.length) break;
  }
  return { chunks: kept, sizeBytes: end };
}

function waitForAny(waitable: { fetcher: PartitionFetcher; offset: bigint }[], timeoutMs: number): Promise<void> {
  // Each wait ends by itself at the timeout, so the losers of the race do not linger.
  return Promise.race(waitable.map((w) => w.fetcher.waitForData(w.offset, timeoutMs)));
}

function maxOf(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

function failed(partition: number, error: KafkaErrorValue): FetchPartitionResponse {
  return {
    partitionIndex: partition,
    errorCode: error.code,
    highWatermark: -1n,
    lastStableOffset: -1n,
    logStartOffset: -1n,
    abortedTransactions: null,
    records: EMPTY,
  };
}

/** Back into the request's topic → partitions shape, in request order. */
function group(wanted: Wanted[], reads: Read[]): NonNullable<ResponseInput<'Fetch'>['responses']> {
  const out: { topic: string; topicId: Buffer; partitions: FetchPartitionResponse[] }[] = [];
  wanted.forEach((w, i) => {
    const last = out[out.length - 1];
    if (last && last.topic === w.topic && last.topicId.equals(w.topicId)) last.partitions.push(reads[i].response);
    else out.push({ topic: w.topic, topicId: w.topicId, partitions: [reads[i].response] });
  });
  return out;
}

/** The topic a Fetch v13+ names by id; undefined when no topic has it. */
async function topicNameOf(gw: DataContext, uuid: Buffer): Promise<string | undefined> {
  const id = topicIdFromUuid(uuid);
  return id === undefined ? undefined : gw.catalog.nameOf(id);
}

export type FetchRequest = RequestBody<'Fetch'>;
