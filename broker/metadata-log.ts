// An embedded, durable, append-only log for broker metadata, with snapshots.
//
// Contract: one MetadataLog per directory and process (nothing locks the files
// against a second process). Appends are applied to `state` in append order,
// only after their frame is written (and fsync'd when `fsync` is on); an
// append's promise resolves after that. Appends issued in the same event-loop
// turn share one write and one fsync. After any write error the log refuses
// further appends: reopen it to recover from what reached the disk.
//
// Files in `dir`:
//   metadata.log       "RDMQMLG1" then frames
//   metadata.snapshot  "RDMQSNP1" then one frame holding the state
// Frame: u32 bodyLength, u32 crc32c(body), body = u64 sequence, u8 encoding,
// payload. Encoding 1 is JSON with tagged bigint/Map/Set values. Sequences
// start at 1 and increase by one; the snapshot frame carries the sequence of
// the last record it includes, so records left behind by a crash between
// "snapshot renamed" and "log truncated" are recognised and skipped on replay.
//
// Recovery: a tail that is short, has an impossible length or a bad CRC, with
// no valid frame anywhere after it, is a write torn by a crash (never
// acknowledged); it is cut at the last good frame with a warning. A bad frame
// with a valid frame after it is corruption of acknowledged records: the log
// refuses to open (CORRUPT_LOG, naming the file and byte position), and only
// `truncateMetadataLog` (`rdmq metadata truncate`) cuts it there, knowingly.
// A corrupt snapshot, a gap in sequences or a record the reducer rejects are
// errors too: the metadata cannot be rebuilt and the message says so.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { crc32c } from '../addon/crc32c';

const LOG_FILE = 'metadata.log';
const SNAPSHOT_FILE = 'metadata.snapshot';
const SNAPSHOT_TEMP_FILE = 'metadata.snapshot.tmp';
const LOG_MAGIC = Buffer.from('RDMQMLG1', 'ascii');
const SNAPSHOT_MAGIC = Buffer.from('RDMQSNP1', 'ascii');
const FILE_HEADER_BYTES = 8;
const FRAME_HEADER_BYTES = 8;
const BODY_HEADER_BYTES = 9;
const ENCODING_JSON = 1;
const DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024;
const DEFAULT_SNAPSHOT_EVERY_RECORDS = 10_000;

export type MetadataLogErrorCode =
  | 'CORRUPT_SNAPSHOT'
  | 'CORRUPT_LOG'
  | 'NOT_A_METADATA_LOG'
  | 'REPLAY_FAILED'
  | 'RECORD_TOO_LARGE'
  | 'WRITE_FAILED'
  | 'CLOSED';

export class MetadataLogError extends Error {
  // None of these heal by retrying the same call on the same log.
  readonly retriable = false;
  constructor(
    readonly code: MetadataLogErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'MetadataLogError';
  }
}

export interface MetadataLogOptions<S, R> {
  /** fsync every write (grouped per event-loop turn) and every snapshot. */
  fsync: boolean;
  /** Snapshot automatically after this many records; 0 turns it off. */
  snapshotEveryRecords?: number;
  initialState: () => S;
  /** Deterministic, no I/O; may update `state` in place. Must accept every record it was given before. */
  reduce: (state: S, record: R) => S;
  maxRecordBytes?: number;
  warn?: (message: string) => void;
}

export interface MetadataLogStats {
  appends: number;
  writes: number;
  fsyncs: number;
  snapshots: number;
  /** Bytes cut from a torn tail when the log was opened. */
  tornTailBytes: number;
}

/**
 * Where MetadataStore keeps its records: this file log (one broker), or
 * the etcd log of an HA group (etcd-metadata-log.ts). Appends apply to
 * `state` in order, once durable.
 */
export interface MetadataSink<S, R> {
  readonly state: S;
  append(record: R): Promise<void>;
  snapshot(): Promise<void>;
  close(): Promise<void>;
}

interface PendingAppend<R> {
  record: R;
  frame: Buffer;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class MetadataLog<S, R extends object> implements MetadataSink<S, R> {
  private failure: MetadataLogError | null = null;
  private closed = false;
  private pending: PendingAppend<R>[] = [];
  private flushQueued = false;
  private io: Promise<unknown> = Promise.resolve();
  private recordsSinceSnapshot = 0;
  private readonly snapshotEveryRecords: number;
  private readonly maxRecordBytes: number;
  readonly stats: MetadataLogStats = { appends: 0, writes: 0, fsyncs: 0, snapshots: 0, tornTailBytes: 0 };

  private constructor(
    readonly dir: string,
    private readonly options: MetadataLogOptions<S, R>,
    private handle: fs.FileHandle,
    private writePosition: number,
    private currentState: S,
    /** Sequence of the last record applied to the state. */
    private appliedSequence: number,
    private assignedSequence: number,
  ) {
    this.snapshotEveryRecords = options.snapshotEveryRecords ?? DEFAULT_SNAPSHOT_EVERY_RECORDS;
    this.maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  }

  /** Opens (creating if needed) the log in `dir` and replays snapshot + records into the state. */
  static async open<S, R extends object>(dir: string, options: MetadataLogOptions<S, R>): Promise<MetadataLog<S, R>> {
    const warn = options.warn ?? ((message: string) => console.warn(`[rdmq metadata-log] ${message}`));
    const maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
    await fs.mkdir(dir, { recursive: true });
    await fs.rm(path.join(dir, SNAPSHOT_TEMP_FILE), { force: true });

    const snapshot = await readSnapshot<S>(path.join(dir, SNAPSHOT_FILE));
    let state = snapshot ? snapshot.state : options.initialState();
    const snapshotSequence = snapshot ? snapshot.sequence : 0;

    const logPath = path.join(dir, LOG_FILE);
    const bytes = await readLogFile(logPath, warn);
    const replay = scanFrames(bytes, maxRecordBytes);
    if (replay.tornReason && replay.validFrameAfter !== undefined) throw corruptInTheMiddle(logPath, replay);
    let lastSequence = snapshotSequence;
    let replayed = 0;
    for (const frame of replay.frames) {
      if (frame.sequence <= snapshotSequence) continue;
      if (frame.sequence !== lastSequence + 1) {
        throw new MetadataLogError(
          'CORRUPT_LOG',
          `${logPath}: record ${frame.sequence} follows record ${lastSequence}; records in between are missing, so the metadata cannot be rebuilt`,
        );
      }
      try {
        state = options.reduce(state, decodePayload(frame.payload) as R);
      } catch (err) {
        throw new MetadataLogError('REPLAY_FAILED', `${logPath}: replaying record ${frame.sequence} failed: ${errorMessage(err)}`);
      }
      lastSequence = frame.sequence;
      replayed++;
    }

    const handle = await fs.open(logPath, 'r+');
    let validLength = replay.validLength;
    if (replay.tornReason) {
      warn(
        `${logPath}: cut ${bytes.length - replay.validLength} bytes of torn or corrupt tail at byte ${replay.validLength} ` +
          `after record ${lastSequence} (${replay.tornReason}); the records before it are kept`,
      );
    }
    // Every record is already in the snapshot (a crash came between snapshot and truncate): start empty.
    if (replayed === 0 && replay.frames.length > 0) validLength = FILE_HEADER_BYTES;
    if (validLength !== bytes.length) {
      await handle.truncate(validLength);
      await handle.datasync();
    }
    const log = new MetadataLog<S, R>(dir, options, handle, validLength, state, lastSequence, lastSequence);
    log.recordsSinceSnapshot = replayed;
    log.stats.tornTailBytes = bytes.length - replay.validLength;
    return log;
  }

  /** The state after every record whose append has resolved (and every replayed one). */
  get state(): S {
    return this.currentState;
  }

  /** Sequence number of the last record applied to `state`. */
  get lastSequence(): number {
    return this.appliedSequence;
  }

  /** Appends a record; resolves once it is durable and applied to `state`. */
  append(record: R): Promise<void> {
    if (this.closed) return Promise.reject(new MetadataLogError('CLOSED', `metadata log in ${this.dir} is closed`));
    if (this.failure) return Promise.reject(this.failure);
    let frame: Buffer;
    try {
      frame = encodeFrame(this.assignedSequence + 1, encodePayload(record));
    } catch (err) {
      return Promise.reject(err);
    }
    if (frame.length - FRAME_HEADER_BYTES - BODY_HEADER_BYTES > this.maxRecordBytes) {
      return Promise.reject(
        new MetadataLogError(
          'RECORD_TOO_LARGE',
          `metadata record of ${frame.length - FRAME_HEADER_BYTES - BODY_HEADER_BYTES} bytes exceeds the limit of ${this.maxRecordBytes}`,
        ),
      );
    }
    this.assignedSequence++;
    this.stats.appends++;
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ record, frame, resolve, reject });
      this.scheduleFlush();
    });
  }

  /**
   * Writes the current state as a snapshot (temp file, fsync, rename, fsync
   * dir) and truncates the log. Runs after writes already under way; appends
   * not yet written go to the truncated log.
   */
  snapshot(): Promise<void> {
    if (this.closed) return Promise.reject(new MetadataLogError('CLOSED', `metadata log in ${this.dir} is closed`));
    return this.enqueue(() => this.writeSnapshot());
  }

  /** Waits for pending appends, then closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.pending.length > 0) await this.enqueue(() => this.flush());
    await this.io.catch(() => undefined);
    this.closed = true;
    await this.handle.close();
  }

  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    // setImmediate, not a microtask: every append issued in this event-loop
    // turn joins the same write and fsync.
    setImmediate(() => {
      this.enqueue(() => this.flush()).catch(() => undefined);
    });
  }

  /** Runs I/O tasks one at a time, in order; a failed task does not block later ones. */
  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.io.then(task);
    this.io = run.catch(() => undefined);
    return run;
  }

  private async flush(): Promise<void> {
    this.flushQueued = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    if (this.failure) {
      for (const p of batch) p.reject(this.failure);
      return;
    }
    try {
      const bytes = batch.length === 1 ? batch[0].frame : Buffer.concat(batch.map((p) => p.frame));
      await writeFully(this.handle, bytes, this.writePosition);
      this.stats.writes++;
      if (this.options.fsync) {
        await this.handle.datasync();
        this.stats.fsyncs++;
      }
      this.writePosition += bytes.length;
    } catch (err) {
      this.fail(new MetadataLogError('WRITE_FAILED', `writing the metadata log in ${this.dir} failed: ${errorMessage(err)}`), batch);
      return;
    }
    for (const p of batch) {
      try {
        this.currentState = this.options.reduce(this.currentState, p.record);
      } catch (err) {
        // Durable but not applicable: replay would fail the same way, so stop here.
        this.fail(new MetadataLogError('REPLAY_FAILED', `applying metadata record ${this.appliedSequence + 1} failed: ${errorMessage(err)}`), [p]);
        return;
      }
      this.appliedSequence++;
      this.recordsSinceSnapshot++;
      p.resolve();
    }
    if (this.snapshotEveryRecords > 0 && this.recordsSinceSnapshot >= this.snapshotEveryRecords) {
      this.enqueue(() => this.writeSnapshot()).catch((err) =>
        (this.options.warn ?? console.warn)(`automatic metadata snapshot failed (the log still holds every record): ${errorMessage(err)}`),
      );
    }
  }

  private fail(error: MetadataLogError, batch: PendingAppend<R>[]): void {
    this.failure = error;
    for (const p of batch) p.reject(error);
    for (const p of this.pending) p.reject(error);
    this.pending = [];
  }

  private async writeSnapshot(): Promise<void> {
    if (this.failure) throw this.failure;
    const frame = encodeFrame(this.appliedSequence, encodePayload(this.currentState));
    const tempPath = path.join(this.dir, SNAPSHOT_TEMP_FILE);
    const temp = await fs.open(tempPath, 'w');
    try {
      await writeFully(temp, Buffer.concat([SNAPSHOT_MAGIC, frame]), 0);
      await temp.sync();
    } finally {
      await temp.close();
    }
    await fs.rename(tempPath, path.join(this.dir, SNAPSHOT_FILE));
    await syncDirectory(this.dir);
    // From here the snapshot holds every applied record; replay skips any left in the log.
    await this.handle.truncate(FILE_HEADER_BYTES);
    await this.handle.datasync();
    this.writePosition = FILE_HEADER_BYTES;
    this.recordsSinceSnapshot = 0;
    this.stats.snapshots++;
  }
}

// ---- Files -----------------------------------------------------------------

async function readSnapshot<S>(snapshotPath: string): Promise<{ sequence: number; state: S } | null> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(snapshotPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const corrupt = (why: string) =>
    new MetadataLogError(
      'CORRUPT_SNAPSHOT',
      `metadata snapshot ${snapshotPath} is corrupt (${why}); the metadata cannot be rebuilt without it — restore it from a backup`,
    );
  if (bytes.length < FILE_HEADER_BYTES || !bytes.subarray(0, FILE_HEADER_BYTES).equals(SNAPSHOT_MAGIC)) {
    throw corrupt('missing RDMQSNP1 header');
  }
  const scan = scanFrames(bytes, Number.MAX_SAFE_INTEGER);
  if (scan.tornReason || scan.frames.length !== 1) throw corrupt(scan.tornReason ?? `${scan.frames.length} frames instead of 1`);
  const [frame] = scan.frames;
  try {
    return { sequence: frame.sequence, state: decodePayload(frame.payload) as S };
  } catch (err) {
    throw corrupt(errorMessage(err));
  }
}

/** Reads the log, creating it (or rewriting a torn header) when needed. */
async function readLogFile(logPath: string, warn: (message: string) => void): Promise<Buffer> {
  let bytes: Buffer | null = null;
  try {
    bytes = await fs.readFile(logPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (bytes && bytes.length >= FILE_HEADER_BYTES) {
    if (!bytes.subarray(0, FILE_HEADER_BYTES).equals(LOG_MAGIC)) {
      throw new MetadataLogError('NOT_A_METADATA_LOG', `${logPath} does not start with RDMQMLG1; it is not an rdmq metadata log`);
    }
    return bytes;
  }
  if (bytes) warn(`${logPath}: header torn (${bytes.length} bytes); rewriting it`);
  const handle = await fs.open(logPath, 'w');
  try {
    await writeFully(handle, LOG_MAGIC, 0);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await syncDirectory(path.dirname(logPath));
  return Buffer.from(LOG_MAGIC);
}

interface Frame {
  sequence: number;
  payload: Buffer;
}

interface FrameScan {
  frames: Frame[];
  /** Bytes up to the end of the last good frame. */
  validLength: number;
  tornReason: string | null;
  /** Where a valid frame lies past the bad one: then the bad one is not a torn tail. */
  validFrameAfter?: number;
}

function corruptInTheMiddle(logPath: string, scan: FrameScan): MetadataLogError {
  const last = scan.frames[scan.frames.length - 1];
  const dataDir = path.dirname(path.dirname(logPath));
  return new MetadataLogError(
    'CORRUPT_LOG',
    `${logPath} is corrupt at byte ${scan.validLength}${last ? ` (after record ${last.sequence})` : ''}: ${scan.tornReason}, ` +
      `and a valid record follows at byte ${scan.validFrameAfter}, so this is not a torn tail: acknowledged metadata would be lost. ` +
      `The broker does not start on it. Restore the file from a backup, or drop everything from byte ${scan.validLength} on, knowingly: ` +
      `rdmq metadata truncate --data ${dataDir} --at ${scan.validLength}`,
  );
}

/** Whether the metadata log in `dir` opens as it is, and what recovery would do with it. */
export async function checkMetadataLog(dir: string, maxRecordBytes = DEFAULT_MAX_RECORD_BYTES): Promise<{ intact: boolean; message: string }> {
  const logPath = path.join(dir, LOG_FILE);
  const bytes = await fs.readFile(logPath);
  if (bytes.length < FILE_HEADER_BYTES || !bytes.subarray(0, FILE_HEADER_BYTES).equals(LOG_MAGIC)) {
    return { intact: false, message: `${logPath} does not start with RDMQMLG1; it is not an rdmq metadata log` };
  }
  const scan = scanFrames(bytes, maxRecordBytes);
  if (!scan.tornReason) return { intact: true, message: `${logPath}: ${scan.frames.length} records, ${bytes.length} bytes, intact` };
  if (scan.validFrameAfter !== undefined) return { intact: false, message: corruptInTheMiddle(logPath, scan).message };
  return {
    intact: true,
    message: `${logPath}: ${scan.frames.length} records; a torn tail of ${bytes.length - scan.validLength} bytes at byte ${scan.validLength} (${scan.tornReason}) will be cut on start`,
  };
}

/**
 * Cuts the log at `atByte`, where its first corrupt record starts (the
 * position the broker's refusal names; anything else is refused, so no intact
 * record is cut by a typo). Every record from there on is lost; the whole
 * file is first copied to metadata.log.corrupt-<time> beside it.
 */
export async function truncateMetadataLog(dir: string, atByte: number, maxRecordBytes = DEFAULT_MAX_RECORD_BYTES): Promise<string> {
  const logPath = path.join(dir, LOG_FILE);
  const bytes = await fs.readFile(logPath);
  const scan = scanFrames(bytes, maxRecordBytes);
  if (!scan.tornReason) throw new MetadataLogError('CORRUPT_LOG', `${logPath} has no corrupt record; nothing to truncate`);
  if (scan.validLength !== atByte) {
    throw new MetadataLogError('CORRUPT_LOG', `${logPath}: the first corrupt record starts at byte ${scan.validLength}, not ${atByte}; truncate only there`);
  }
  const lostFrames = scan.validFrameAfter === undefined ? 0 : scanFrames(Buffer.concat([LOG_MAGIC, bytes.subarray(scan.validFrameAfter)]), maxRecordBytes).frames.length;
  const backup = `${logPath}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  await fs.copyFile(logPath, backup);
  const handle = await fs.open(logPath, 'r+');
  try {
    await handle.truncate(atByte);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  return `${logPath}: cut at byte ${atByte} after ${scan.frames.length} records; ${bytes.length - atByte} bytes dropped (at least ${lostFrames} valid records after the corrupt one); the original is kept as ${backup}`;
}

function scanFrames(bytes: Buffer, maxRecordBytes: number): FrameScan {
  const frames: Frame[] = [];
  let position = FILE_HEADER_BYTES;
  let tornReason: string | null = null;
  while (position < bytes.length) {
    if (bytes.length - position < FRAME_HEADER_BYTES) {
      tornReason = 'short frame header';
      break;
    }
    const bodyLength = bytes.readUInt32BE(position);
    if (bodyLength < BODY_HEADER_BYTES || bodyLength - BODY_HEADER_BYTES > maxRecordBytes) {
      tornReason = `impossible frame length ${bodyLength}`;
      break;
    }
    const bodyStart = position + FRAME_HEADER_BYTES;
    if (bodyStart + bodyLength > bytes.length) {
      tornReason = `frame of ${bodyLength} bytes runs past the end of the file`;
      break;
    }
    const body = bytes.subarray(bodyStart, bodyStart + bodyLength);
    if (crc32c(body) !== bytes.readUInt32BE(position + 4)) {
      tornReason = 'CRC32C mismatch';
      break;
    }
    const encoding = body.readUInt8(8);
    if (encoding !== ENCODING_JSON) {
      tornReason = `unknown encoding ${encoding}`;
      break;
    }
    frames.push({ sequence: Number(body.readBigUInt64BE(0)), payload: body.subarray(BODY_HEADER_BYTES) });
    position = bodyStart + bodyLength;
  }
  const validFrameAfter = tornReason ? findValidFrame(bytes, position + 1, maxRecordBytes) : undefined;
  return { frames, validLength: position, tornReason, validFrameAfter };
}

/** The first position from `from` on where a whole frame with a matching CRC starts, if any. */
function findValidFrame(bytes: Buffer, from: number, maxRecordBytes: number): number | undefined {
  for (let p = from; p + FRAME_HEADER_BYTES + BODY_HEADER_BYTES <= bytes.length; p++) {
    const bodyLength = bytes.readUInt32BE(p);
    if (bodyLength < BODY_HEADER_BYTES || bodyLength - BODY_HEADER_BYTES > maxRecordBytes || p + FRAME_HEADER_BYTES + bodyLength > bytes.length) continue;
    const body = bytes.subarray(p + FRAME_HEADER_BYTES, p + FRAME_HEADER_BYTES + bodyLength);
    if (body.readUInt8(8) === ENCODING_JSON && crc32c(body) === bytes.readUInt32BE(p + 4)) return p;
  }
  return undefined;
}

function encodeFrame(sequence: number, payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + BODY_HEADER_BYTES + payload.length);
  const body = frame.subarray(FRAME_HEADER_BYTES);
  body.writeBigUInt64BE(BigInt(sequence), 0);
  body.writeUInt8(ENCODING_JSON, 8);
  payload.copy(body, BODY_HEADER_BYTES);
  frame.writeUInt32BE(body.length, 0);
  frame.writeUInt32BE(crc32c(body), 4);
  return frame;
}

async function writeFully(handle: fs.FileHandle, bytes: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, written, bytes.length - written, position + written);
    written += bytesWritten;
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

// ---- Payload encoding --------------------------------------------------------

// JSON cannot hold bigint, Map or Set; they travel as single-key tagged objects.
// A plain object whose only key is one of these tags would be misread: don't.
const BIGINT_TAG = '$bigint';
const MAP_TAG = '$map';
const SET_TAG = '$set';

export function encodePayload(value: unknown): Buffer {
  const json = JSON.stringify(value, function replace(this: unknown, _key: string, v: unknown) {
    if (typeof v === 'bigint') return { [BIGINT_TAG]: v.toString() };
    if (v instanceof Map) return { [MAP_TAG]: [...v.entries()] };
    if (v instanceof Set) return { [SET_TAG]: [...v.values()] };
    return v;
  });
  return Buffer.from(json, 'utf8');
}

export function decodePayload(bytes: Buffer): unknown {
  return JSON.parse(bytes.toString('utf8'), (_key: string, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const keys = Object.keys(v);
    if (keys.length !== 1) return v;
    const tagged = (v as Record<string, unknown>)[keys[0]];
    if (keys[0] === BIGINT_TAG && typeof tagged === 'string') return BigInt(tagged);
    if (keys[0] === MAP_TAG && Array.isArray(tagged)) return new Map(tagged as [unknown, unknown][]);
    if (keys[0] === SET_TAG && Array.isArray(tagged)) return new Set(tagged);
    return v;
  });
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
