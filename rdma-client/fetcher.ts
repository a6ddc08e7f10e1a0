// Kafka-style random-access reads of one partition, for the gateway's Fetch:
// "bytes of complete batches from this offset, at most about this many",
// straight from the storage node with one-sided gets. The broker is asked
// only where an offset starts (LOCATE) when the fetcher has not seen it
// already; sequential readers continue from the position the last fetch
// ended at. One fetcher serves every Kafka consumer of a partition at a
// gateway, so each fetch takes the connection's next reader turn: fetches
// spread over a segment's copies instead of all reading the same one.
//
// With a buffer pool (the gateway's), reads go into buffers taken from it and
// each fetch's answer holds them until its caller gives them back
// (FetchChunks.release, once the answer is written): a reader serving a GB a
// second otherwise makes a GB a second of fresh ArrayBuffers, which V8
// counts as external memory and answers with a full GC every few tens of MB.
import { batchIntact, isSkipMarker, readBatchHeader, RECORDS_OFFSET, splitBatches } from '../format';
import { decodeJson, encodeJson, FastPathMessage } from '../format/fastpath-wire';
import { BatchBuffers } from './batch-buffers';
import { Connection } from './connection';
import { RdmqError, replyError } from './errors';
import { corruptBatchError, corruptRangeError, fenceAt, PartitionView, readLimit, SegmentView } from './partition-view';

const OFFSET_OUT_OF_RANGE = 1;
const POSITION_CACHE_MAX = 1024;
const MIN_READ_BYTES = 64 * 1024;
/** Damaged batches each fetcher remembers having reported (each is logged once). */
const REPORTED_MAX = 1024;

export interface FetchResult {
  /** Complete stored batches; the first may start before the requested offset. */
  records: Buffer;
  highWatermark: bigint;
  logStartOffset: bigint;
}

/** A fetch's batches as the views they were read into (each holds whole batches), for a socket writev: never concatenated. */
export interface FetchChunks {
  chunks: Buffer[];
  sizeBytes: number;
  highWatermark: bigint;
  logStartOffset: bigint;
  /**
   * Gives the buffers the chunks view back to the fetcher's pool: call it
   * once nothing will read the chunks again (their write to a socket has
   * completed), at most once. Without a pool it does nothing; not calling it
   * leaves the buffers to the GC.
   */
  release(): void;
}

const NOTHING_TO_RELEASE = (): void => undefined;

interface Location {
  segmentId: number;
  position: number;
}

/** Bytes the fetchers of one process may hold read ahead (the gateway's budget). */
export interface ReadAheadBudget {
  tryTake(bytes: number): boolean;
  give(bytes: number): void;
}

/** The committed bytes after where the last fetch stopped, read while its consumer works through its answer. */
interface ReadAhead {
  key: string;
  segment: SegmentView;
  position: number;
  sizeBytes: number;
  /** What was read, and how many of its first bytes are whole batches already checked against their CRCs; undefined if the read failed. */
  bytes: Promise<CheckedRead | undefined>;
  /** Its buffer came from the fetcher's pool. */
  pooled: boolean;
  expiry: NodeJS.Timeout;
  /** Nobody took it in time: a read that has not started yet is not made. */
  dropped?: boolean;
}

/** Bytes read, of which the first `intactBytes` are whole batches whose CRC32C matched. */
interface CheckedRead {
  bytes: Buffer;
  intactBytes: number;
}

/** A read-ahead nobody takes within this long is dropped (its consumer went away, or moved). */
const READ_AHEAD_KEEP_MS = 2000;
/** Read-aheads kept per partition: one per consumer reading it at its own place (groups, replays), the oldest dropped first. */
const READ_AHEADS_PER_PARTITION = 4;

export class PartitionFetcher {
  private view: PartitionView | undefined;
  private logStart = 0n;
  /** Next offset → where its batch starts, remembered from earlier fetches. */
  private readonly positions = new Map<string, Location>();
  /** By `segmentId:position`, oldest first. */
  private readonly readAheads = new Map<string, ReadAhead>();
  /** `segmentId:position` of damaged batches already reported. */
  private readonly reported = new Set<string>();

  /**
   * With `readAheadBudget`, a fetch that stops before the committed end
   * starts reading what follows (as much as it returned), so a consumer that
   * fetches again once it has worked through the answer (kafkajs, one fetch
   * at a time) finds its next bytes already read. Committed bytes never
   * change, so a read-ahead is used only at exactly the segment and position
   * it was read from, and dropped after READ_AHEAD_KEEP_MS; a partition
   * keeps READ_AHEADS_PER_PARTITION, for consumers reading it at different places.
   *
   * Every batch handed out is checked against its CRC first (Kafka clients
   * that do not check, librdkafka's default, would otherwise take damaged
   * bytes the storage node's scrubber has not reached yet); a read-ahead's
   * batches are checked when it lands, off the next fetch's path: one that fails
   * is read again from the segment's copies and served from one that holds
   * it intact; when none does, the fetch that starts at it fails with
   * CORRUPT_MESSAGE. Either is reported through `log`, once per batch.
   */
  constructor(
    private readonly connection: Connection,
    readonly topic: string,
    readonly partition: number,
    private readonly readAheadBudget?: ReadAheadBudget,
    private readonly log: (message: string) => void = () => undefined,
    /** Buffers reads go into, given back by FetchChunks.release (the gateway's); none: every read is a fresh buffer. */
    private readonly buffers?: BatchBuffers,
  ) {}

  async open(): Promise<void> {
    if (this.view) return;
    this.view = await PartitionView.subscribe(this.connection, this.topic, this.partition, 'earliest');
    this.logStart = this.view.start.offset;
  }

  get highWatermark(): bigint {
    return this.opened().highWatermark;
  }

  async fetch(offset: bigint, maxBytes: number): Promise<FetchResult> {
    const { chunks, sizeBytes, highWatermark, logStartOffset, release } = await this.fetchChunks(offset, maxBytes);
    // The records outlive this call: a pooled buffer is copied out and given back.
    const alone = chunks.length === 1 && !this.buffers;
    const records = chunks.length === 0 ? Buffer.alloc(0) : alone ? chunks[0] : Buffer.concat(chunks, sizeBytes);
    release();
    return { records, highWatermark, logStartOffset };
  }

  /**
   * Like fetch, but the batches stay in the buffers they were read into (no
   * copy of a large answer). `answered` settles once the caller has handed
   * the answer to its socket in full: a read-ahead from a storage node in
   * this process (this process's CPU) waits for it, so the socket's
   * remaining bytes are not held up behind the copy while the consumer waits
   * for them. Without it, the read-ahead waits for the next turn of the loop.
   */
  async fetchChunks(offset: bigint, maxBytes: number, answered?: Promise<void>): Promise<FetchChunks> {
    const view = this.opened();
    // The pooled buffers this fetch read into: the caller's until it releases them (on a failure, the GC's).
    const held: Buffer[] = [];
    const result = (chunks: Buffer[], sizeBytes = 0): FetchChunks => ({
      chunks,
      sizeBytes,
      highWatermark: view.highWatermark,
      logStartOffset: this.logStart,
      release: held.length === 0 ? NOTHING_TO_RELEASE : () => held.splice(0).forEach((b) => this.buffers!.give(b)),
    });
    if (offset === view.highWatermark) return result([]);
    let at = this.positions.get(offset.toString()) ?? (await this.locate(offset));
    if (at === undefined) return result([]);
    const out: Buffer[] = [];
    let outBytes = 0;
    let nextOffset = offset;
    const preferred = this.connection.readerTurn();
    while (outBytes < maxBytes || out.length === 0) {
      const segment: SegmentView | undefined = view.segments.get(at.segmentId);
      if (!segment) break;
      const fence = fenceAt(segment, at.position, nextOffset);
      if (fence) {
        // What comes before the fence is answered; a fetch that starts at it fails.
        if (out.length > 0) break;
        throw corruptRangeError(this.topic, this.partition, segment, fence);
      }
      if (at.position >= segment.commitPosition) {
        const next = view.segmentAfter(segment);
        if (!next) break;
        at = { segmentId: next.segmentId, position: next.startPosition };
        continue;
      }
      const available = readLimit(segment, at.position) - at.position;
      let want = Math.min(available, Math.max(MIN_READ_BYTES, maxBytes - outBytes));
      let { bytes, intactBytes } = await this.readAt(view, segment, at.position, want, preferred, held);
      let split = splitBatches(bytes, { batchBytesMax: segment.dataCapacityBytes });
      if (split.batches.length === 0) {
        // The next batch is larger than what is left of maxBytes. Kafka
        // returns it only as the first batch, however large; after others
        // it waits for the next fetch.
        if (out.length > 0) break;
        // Read only the rest of it: the bytes already read are its start.
        const read = bytes.length;
        want = Math.min(available, 12 + bytes.readInt32BE(8));
        const whole = Buffer.allocUnsafe(want);
        bytes.copy(whole, 0, 0, Math.min(read, want));
        if (want > read) await view.read(segment, at.position + read, whole.subarray(read), preferred);
        bytes = whole;
        intactBytes = 0;
        split = splitBatches(bytes, { batchBytesMax: segment.dataCapacityBytes });
        if (split.batches.length === 0) throw new RdmqError(`corrupt batch in ${this.topic}-${this.partition} segment ${segment.segmentId} at ${at.position}`, 2);
      }
      let consumed = 0;
      let full = false;
      // Adjacent batches kept from one read go out as one view of it: no concatenation.
      let runStart = -1;
      let runEnd = -1;
      const endRun = (): void => {
        if (runStart >= 0) out.push(bytes.subarray(runStart, runEnd));
        runStart = -1;
      };
      for (const span of split.batches) {
        const header = readBatchHeader(bytes, span.offset);
        const last = header.baseOffset + BigInt(header.lastOffsetDelta);
        if (last < offset || isSkipMarker(header)) {
          endRun();
          consumed = span.offset + span.length;
          if (last >= nextOffset) nextOffset = last + 1n;
          continue;
        }
        // Whole batches up to maxBytes, as the gateway will send them: a batch
        // read past that would be cut from the response and read again.
        if (outBytes > 0 && outBytes + span.length > maxBytes) {
          full = true;
          break;
        }
        const batch = bytes.subarray(span.offset, span.offset + span.length);
        const checked = span.offset + span.length <= intactBytes;
        if (!checked && !batchIntact(batch) && !(await this.readIntactCopy(view, segment, at.position + span.offset, batch, preferred))) {
          // What came before goes out; the fetch that starts here fails.
          if (outBytes > 0) {
            full = true;
            break;
          }
          const why = `offsets from ${header.baseOffset}: its CRC32C does not match its bytes on any copy read; the storage node's scrubber fences it, then 'rdmq corruption skip' replaces it`;
          throw corruptBatchError(this.topic, this.partition, segment.segmentId, at.position + span.offset, new Error(why));
        }
        consumed = span.offset + span.length;
        if (runStart < 0) runStart = span.offset;
        runEnd = consumed;
        outBytes += span.length;
        nextOffset = last + 1n;
      }
      endRun();
      at = { segmentId: at.segmentId, position: at.position + consumed };
      if (full || nextBatchCannotFit(bytes, consumed, offset, outBytes, maxBytes)) break;
    }
    this.remember(nextOffset, at);
    // As much as the consumer asks for (its next fetch then finds it all read), or more when one batch was larger.
    if (outBytes > 0) this.startReadAhead(view, at, Math.max(outBytes, maxBytes), preferred, answered);
    return result(out, outBytes);
  }

  /**
   * The batch `damaged` (at `position`, failed its CRC) read again from the
   * segment's copies, in turn; the first that holds it intact is copied over
   * it. False when none does.
   */
  private async readIntactCopy(view: PartitionView, segment: SegmentView, position: number, damaged: Buffer, preferred: number): Promise<boolean> {
    const where = `${this.topic}-${this.partition} segment ${segment.segmentId} position ${position}`;
    const intact = await view.readIntact(segment, position, damaged.length, preferred);
    if (intact) {
      intact.copy(damaged);
      this.reportOnce(segment, position, `a batch at ${where} failed its CRC32C on one copy; served from another copy that holds it intact`);
      return true;
    }
    const copies = view.copyCount(segment);
    this.reportOnce(segment, position, `CORRUPT batch at ${where}: its CRC32C does not match its bytes on any of its ${copies} cop${copies === 1 ? 'y' : 'ies'}; Kafka readers get CORRUPT_MESSAGE there`);
    return false;
  }

  private reportOnce(segment: SegmentView, position: number, message: string): void {
    const key = `${segment.segmentId}:${position}`;
    if (this.reported.has(key)) return;
    if (this.reported.size >= REPORTED_MAX) this.reported.delete(this.reported.values().next().value as string);
    this.reported.add(key);
    this.log(message);
  }

  /**
   * Up to `lengthBytes` committed bytes at `position`: the read-ahead when
   * one was read from exactly there, even when shorter than asked (the
   * caller reads on from where its whole batches end, so the read-ahead is
   * never copied into a larger buffer), else a fresh read of `lengthBytes`.
   * Pooled buffers it reads into, or takes over from a read-ahead, go on `held`.
   * A read-ahead's batches were checked against their CRCs when it landed
   * (`intactBytes`); a fresh read's are not yet.
   */
  private async readAt(view: PartitionView, segment: SegmentView, position: number, lengthBytes: number, preferred: number, held: Buffer[]): Promise<CheckedRead> {
    const ahead = this.readAheads.get(`${segment.segmentId}:${position}`);
    let start: CheckedRead | undefined;
    if (ahead) {
      // Only bytes read from this very segment (not one freed and replaced since) are this position's.
      if (ahead.segment === segment) {
        this.takeReadAhead(ahead);
        start = await ahead.bytes;
        if (start && ahead.pooled) held.push(start.bytes);
      } else {
        this.dropReadAhead(ahead);
      }
    }
    if (start && start.bytes.length >= lengthBytes) return { bytes: start.bytes.subarray(0, lengthBytes), intactBytes: Math.min(start.intactBytes, lengthBytes) };
    // Shorter than asked: served alone (no copy) if it holds its first batch whole; the caller reads on after its last whole batch.
    if (start && start.bytes.length >= 12 && 12 + start.bytes.readInt32BE(8) <= start.bytes.length) return start;
    // Else its bytes are the start of the read (a batch larger than the read-ahead is pieced together here).
    const bytes = this.buffers ? this.buffers.take(lengthBytes) : Buffer.allocUnsafe(lengthBytes);
    const have = start ? start.bytes.copy(bytes) : 0;
    await view.read(segment, position + have, bytes.subarray(have), preferred);
    // Only a read that completed: a failed one may still have a copy landing in it.
    if (this.buffers) held.push(bytes);
    return { bytes, intactBytes: 0 };
  }

  /** Reads up to `sizeBytes` of what follows `at`, if it is committed and the budget allows. */
  private startReadAhead(view: PartitionView, at: Location, sizeBytes: number, preferred: number, answered?: Promise<void>): void {
    const key = `${at.segmentId}:${at.position}`;
    // Another consumer's fetch stopped at the same place: what it read ahead serves this one too.
    if (this.readAheads.has(key)) return;
    const oldest = this.readAheads.values().next().value as ReadAhead | undefined;
    if (oldest && this.readAheads.size >= READ_AHEADS_PER_PARTITION) this.dropReadAhead(oldest);
    const segment = view.segments.get(at.segmentId);
    if (!this.readAheadBudget || !segment || fenceAt(segment, at.position, -1n)) return;
    const lengthBytes = Math.min(readLimit(segment, at.position) - at.position, Math.max(sizeBytes, MIN_READ_BYTES));
    if (lengthBytes <= 0 || !this.readAheadBudget.tryTake(lengthBytes)) return;
    const into = this.buffers ? this.buffers.take(lengthBytes) : Buffer.allocUnsafe(lengthBytes);
    // A read from a node in this process is this process's work (a copy on this thread, or on pool threads when
    // large, then its CRC check here): it waits until this answer is in the socket, then runs while the consumer
    // works through it.
    const started = !view.readsInProcess(segment, preferred) ? Promise.resolve() : (answered ?? new Promise<void>((resolve) => setImmediate(resolve)));
    // A failed read-ahead is only a missed chance: the fetch reads for itself. One that landed has its
    // batches checked against their CRCs now, while the consumer works through this answer, not when it asks again.
    const read = (): Promise<CheckedRead | undefined> => {
      // Dropped before its turn came (its consumer took the answer slower than READ_AHEAD_KEEP_MS): nothing to copy.
      if (ahead.dropped) {
        if (ahead.pooled) this.buffers!.give(into);
        return Promise.resolve(undefined);
      }
      return view.read(segment, at.position, into, preferred).then(
        () => ({ bytes: into, intactBytes: intactPrefixBytes(into, segment.dataCapacityBytes) }),
        () => undefined,
      );
    };
    const bytes = started.then(read);
    const ahead: ReadAhead = {
      key,
      segment,
      position: at.position,
      sizeBytes: lengthBytes,
      bytes,
      pooled: this.buffers !== undefined,
      expiry: setTimeout(() => this.dropReadAhead(ahead), READ_AHEAD_KEEP_MS),
    };
    ahead.expiry.unref();
    this.readAheads.set(key, ahead);
  }

  /** A fetch takes the read-ahead: it leaves the partition's list and the budget, and its buffer is the fetch's now. */
  private takeReadAhead(ahead: ReadAhead): boolean {
    if (this.readAheads.get(ahead.key) !== ahead) return false;
    this.readAheads.delete(ahead.key);
    clearTimeout(ahead.expiry);
    this.readAheadBudget?.give(ahead.sizeBytes);
    return true;
  }

  /**
   * Nobody takes the read-ahead: its buffer goes back to the pool once its
   * read has landed (a failed read's is left to the GC); a read still
   * waiting for its answer to be written is not made.
   */
  private dropReadAhead(ahead: ReadAhead): void {
    if (!this.takeReadAhead(ahead)) return;
    ahead.dropped = true;
    if (ahead.pooled) void ahead.bytes.then((read) => read && this.buffers!.give(read.bytes));
  }

  /** Resolves when the high watermark passes `offset`, or after `timeoutMs`. */
  waitForData(offset: bigint, timeoutMs: number): Promise<void> {
    const view = this.opened();
    if (view.highWatermark > offset || timeoutMs <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        off();
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      const off = view.onChange(() => {
        if (view.highWatermark > offset) done();
      });
    });
  }

  async close(): Promise<void> {
    for (const ahead of [...this.readAheads.values()]) this.dropReadAhead(ahead);
    await this.view?.close();
    this.view = undefined;
  }

  private opened(): PartitionView {
    if (!this.view) throw new RdmqError('call open() before fetching', 42);
    return this.view;
  }

  private remember(offset: bigint, at: Location): void {
    if (this.positions.size >= POSITION_CACHE_MAX) this.positions.delete(this.positions.keys().next().value as string);
    this.positions.set(offset.toString(), at);
  }

  private async locate(offset: bigint): Promise<Location | undefined> {
    const reply = await this.connection.request(FastPathMessage.LOCATE, (reqId) => encodeJson(reqId, { topic: this.topic, partition: this.partition, offset: offset.toString() }));
    const { body } = decodeJson<{ error?: { errorCode: number; message: string }; where: string; segmentId?: number; position?: number; logStartOffset: string; highWatermark: string }>(
      reply.header,
      'LOCATE_REPLY',
    );
    if (body.error) throw replyError(body.error.message, body.error.errorCode, { operation: 'READ', resource: this.topic });
    this.logStart = BigInt(body.logStartOffset);
    if (body.where === 'found') return { segmentId: body.segmentId!, position: body.position! };
    if (body.where === 'at-end') return undefined;
    throw new RdmqError(`offset ${offset} is outside ${body.logStartOffset}..${body.highWatermark} of ${this.topic}-${this.partition}`, OFFSET_OUT_OF_RANGE);
  }
}

/**
 * How many of the first bytes of `bytes` are whole batches whose CRC32C
 * matches: the check a fetch makes of each batch it hands out, made ahead.
 * It stops at the first batch that fails (or is cut off), which a fetch
 * then checks, and reads again from the other copies, as before.
 */
function intactPrefixBytes(bytes: Buffer, batchBytesMax: number): number {
  let intact = 0;
  for (const span of splitBatches(bytes, { batchBytesMax }).batches) {
    if (span.offset !== intact || !batchIntact(bytes.subarray(span.offset, span.offset + span.length))) break;
    intact = span.offset + span.length;
  }
  return intact;
}

/**
 * Whether the batch that starts at `at` in `bytes`, read only in part, is
 * one the fetch would stop before (it takes the answer past `maxBytes`): then
 * the fetch is full without reading it. Skip markers and batches below the
 * fetch offset do not count; a header that cannot be read says nothing.
 */
function nextBatchCannotFit(bytes: Buffer, at: number, offset: bigint, outBytes: number, maxBytes: number): boolean {
  if (outBytes === 0 || bytes.length - at < RECORDS_OFFSET) return false;
  let header: ReturnType<typeof readBatchHeader>;
  try {
    header = readBatchHeader(bytes, at);
  } catch {
    return false;
  }
  if (isSkipMarker(header) || header.baseOffset + BigInt(header.lastOffsetDelta) < offset) return false;
  return outBytes + 12 + header.batchLength > maxBytes;
}
