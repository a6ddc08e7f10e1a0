// The metadata log of an HA broker group, kept in etcd: the same records and
// reducer as the file log (metadata-log.ts), in an order etcd decides.
//
// Keys under `prefix`:
//   meta/log/<seq, 20 digits>            one record (JSON, tagged bigint/Map/Set)
//   meta/snapshot                        {sequence, chunks}: the newest snapshot
//   meta/snapshot-<seq>/<chunk, 6 digits>  its state, in chunks below etcd's request limit
//
// Every write is one etcd transaction that first compares the leader key's
// create revision with this term's epoch: once another broker holds the
// leader key, a deposed leader's appends fail (NOT_LEADER) and it cannot
// change the metadata any more — no split brain. An append also requires its
// sequence key to be new, so two writers can never interleave records.
// Appends of one event-loop turn share one transaction (at most
// TXN_RECORDS_MAX records, below etcd's limit of operations per transaction,
// and TXN_BYTES_MAX bytes, below its request size limit).
//
// The new leader replays snapshot + records in sequence order on takeover;
// a gap is an error. After `snapshotEveryRecords` records the state is written
// as a snapshot and the records it holds are deleted, so the log stays short.
// After a failed write (outcome unknown, or the compare failed) the log
// refuses further appends: the broker steps down and the next leader replays
// whatever reached etcd.
import type { Etcd3 } from 'etcd3';
import { decodePayload, encodePayload, MetadataLogOptions, MetadataSink } from './metadata-log';

const TXN_RECORDS_MAX = 100;
/** Bytes of records per transaction, below etcd's default request limit of 1.5 MiB. */
const TXN_BYTES_MAX = 1024 * 1024;
/** Below etcd's default request limit of 1.5 MiB, with room for the keys. */
const RECORD_BYTES_MAX = 1024 * 1024;
const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
const DEFAULT_SNAPSHOT_EVERY_RECORDS = 1000;
const SEQUENCE_DIGITS = 20;

export type EtcdMetadataLogErrorCode = 'NOT_LEADER' | 'WRITE_FAILED' | 'RECORD_TOO_LARGE' | 'REPLAY_FAILED' | 'CLOSED';

export class EtcdMetadataLogError extends Error {
  /** NOT_LEADER and WRITE_FAILED heal at the next leader: the client retries there. */
  readonly retriable: boolean;
  constructor(
    readonly code: EtcdMetadataLogErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'EtcdMetadataLogError';
    this.retriable = code === 'NOT_LEADER' || code === 'WRITE_FAILED';
  }
}

export interface EtcdMetadataLogOptions<S, R> extends MetadataLogOptions<S, R> {
  client: Etcd3;
  /** Key prefix of the HA group, e.g. /rdmq. */
  prefix: string;
  /** The leader key and this term's epoch (the key's create revision), compared by every write. */
  leaderKey: string;
  epoch: string;
  /** Called once when a write fails: this broker must stop serving. */
  onFailure?: (error: EtcdMetadataLogError) => void;
}

interface Pending<R> {
  record: R;
  bytes: Buffer;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class EtcdMetadataLog<S, R extends object> implements MetadataSink<S, R> {
  private pending: Pending<R>[] = [];
  private flushQueued = false;
  private io: Promise<unknown> = Promise.resolve();
  private failure: EtcdMetadataLogError | null = null;
  private closed = false;
  private recordsSinceSnapshot = 0;
  private readonly snapshotEveryRecords: number;

  private constructor(
    private readonly options: EtcdMetadataLogOptions<S, R>,
    private currentState: S,
    private appliedSequence: number,
    private snapshotSequence: number,
  ) {
    this.snapshotEveryRecords = options.snapshotEveryRecords ?? DEFAULT_SNAPSHOT_EVERY_RECORDS;
  }

  /** Replays the newest snapshot and every record after it. */
  static async open<S, R extends object>(options: EtcdMetadataLogOptions<S, R>): Promise<EtcdMetadataLog<S, R>> {
    const { client } = options;
    const keys = keysOf(options.prefix);
    let state = options.initialState();
    let sequence = 0;
    const head = await client.get(keys.snapshotHead).string();
    if (head !== null) {
      const { sequence: at, chunks } = JSON.parse(head) as { sequence: number; chunks: number };
      const parts = await client.getAll().prefix(keys.snapshotChunkPrefix(at)).sort('Key', 'Ascend').buffers();
      const ordered = Object.keys(parts).sort().map((k) => parts[k]);
      if (ordered.length !== chunks) {
        throw new EtcdMetadataLogError('REPLAY_FAILED', `metadata snapshot at record ${at} in etcd has ${ordered.length} of its ${chunks} chunks; the metadata cannot be rebuilt`);
      }
      state = decodePayload(Buffer.concat(ordered)) as S;
      sequence = at;
    }
    const snapshotSequence = sequence;
    const records = await client.getAll().prefix(keys.logPrefix).sort('Key', 'Ascend').buffers();
    let replayed = 0;
    for (const key of Object.keys(records).sort()) {
      const recordSequence = Number(key.slice(key.lastIndexOf('/') + 1));
      if (recordSequence <= snapshotSequence) continue;
      if (recordSequence !== sequence + 1) {
        throw new EtcdMetadataLogError('REPLAY_FAILED', `metadata record ${recordSequence} in etcd follows record ${sequence}; records in between are missing`);
      }
      try {
        state = options.reduce(state, decodePayload(records[key]) as R);
      } catch (err) {
        throw new EtcdMetadataLogError('REPLAY_FAILED', `replaying metadata record ${recordSequence} from etcd failed: ${(err as Error).message}`);
      }
      sequence = recordSequence;
      replayed++;
    }
    const log = new EtcdMetadataLog<S, R>(options, state, sequence, snapshotSequence);
    log.recordsSinceSnapshot = replayed;
    return log;
  }

  get state(): S {
    return this.currentState;
  }

  get lastSequence(): number {
    return this.appliedSequence;
  }

  append(record: R): Promise<void> {
    if (this.closed) return Promise.reject(new EtcdMetadataLogError('CLOSED', 'the etcd metadata log is closed'));
    if (this.failure) return Promise.reject(this.failure);
    let bytes: Buffer;
    try {
      bytes = encodePayload(record);
    } catch (err) {
      return Promise.reject(err);
    }
    if (bytes.length > RECORD_BYTES_MAX) {
      return Promise.reject(new EtcdMetadataLogError('RECORD_TOO_LARGE', `metadata record of ${bytes.length} bytes exceeds the etcd log's limit of ${RECORD_BYTES_MAX}`));
    }
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ record, bytes, resolve, reject });
      if (this.flushQueued) return;
      this.flushQueued = true;
      // Every append of this event-loop turn joins one transaction.
      setImmediate(() => void this.enqueue(() => this.flush()).catch(() => undefined));
    });
  }

  snapshot(): Promise<void> {
    if (this.closed) return Promise.reject(new EtcdMetadataLogError('CLOSED', 'the etcd metadata log is closed'));
    return this.enqueue(() => this.writeSnapshot());
  }

  /** Refuses further appends at once (the broker lost its leadership); pending ones fail. */
  depose(reason: string): void {
    // The broker knows already: onFailure is for failures it learns of here.
    this.fail(new EtcdMetadataLogError('NOT_LEADER', reason), [], false);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.pending.length > 0 && !this.failure) await this.enqueue(() => this.flush()).catch(() => undefined);
    await this.io.catch(() => undefined);
    this.closed = true;
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.io.then(task);
    this.io = run.catch(() => undefined);
    return run;
  }

  private async flush(): Promise<void> {
    this.flushQueued = false;
    while (this.pending.length > 0) {
      if (this.failure) return this.fail(this.failure, []);
      const batch = this.pending.splice(0, batchLength(this.pending));
      const first = this.appliedSequence + 1;
      const keys = keysOf(this.options.prefix);
      const { client } = this.options;
      let succeeded: boolean;
      try {
        const result = await this.leaderTxn()
          .and(keys.record(first), 'Create', '==', 0)
          .then(...batch.map((p, i) => client.put(keys.record(first + i)).value(p.bytes)))
          .commit();
        succeeded = result.succeeded;
      } catch (err) {
        return this.fail(new EtcdMetadataLogError('WRITE_FAILED', `writing metadata records ${first}.. to etcd failed (${(err as Error).message}); the next leader replays what reached etcd`), batch);
      }
      if (!succeeded) {
        return this.fail(new EtcdMetadataLogError('NOT_LEADER', `this broker is no longer the leader (epoch ${this.options.epoch} was replaced in etcd); its metadata writes are refused`), batch);
      }
      for (const p of batch) {
        try {
          this.currentState = this.options.reduce(this.currentState, p.record);
        } catch (err) {
          return this.fail(new EtcdMetadataLogError('REPLAY_FAILED', `applying metadata record ${this.appliedSequence + 1} failed: ${(err as Error).message}`), [p]);
        }
        this.appliedSequence++;
        this.recordsSinceSnapshot++;
        p.resolve();
      }
    }
    if (this.snapshotEveryRecords > 0 && this.recordsSinceSnapshot >= this.snapshotEveryRecords) {
      this.enqueue(() => this.writeSnapshot()).catch((err: Error) =>
        (this.options.warn ?? console.warn)(`automatic metadata snapshot to etcd failed (the log still holds every record): ${err.message}`),
      );
    }
  }

  /**
   * Chunks first (unreachable until the head names them), then the head,
   * then the records and chunks it replaces are deleted. Every step compares
   * the leader key, so a deposed leader cannot move the head.
   */
  private async writeSnapshot(): Promise<void> {
    if (this.failure) throw this.failure;
    const keys = keysOf(this.options.prefix);
    const { client } = this.options;
    const at = this.appliedSequence;
    if (at === this.snapshotSequence) return;
    const bytes = encodePayload(this.currentState);
    const chunks: Buffer[] = [];
    for (let offset = 0; offset < bytes.length || chunks.length === 0; offset += SNAPSHOT_CHUNK_BYTES) chunks.push(bytes.subarray(offset, offset + SNAPSHOT_CHUNK_BYTES));
    for (const [i, chunk] of chunks.entries()) await this.mustCommit(this.leaderTxn().then(client.put(keys.snapshotChunk(at, i)).value(chunk)), 'snapshot chunk');
    await this.mustCommit(this.leaderTxn().then(client.put(keys.snapshotHead).value(JSON.stringify({ sequence: at, chunks: chunks.length }))), 'snapshot head');
    const previous = this.snapshotSequence;
    this.snapshotSequence = at;
    this.recordsSinceSnapshot = Math.max(0, this.appliedSequence - at);
    // The head names the new snapshot: what it replaces may go (a failure here only leaves garbage replay skips).
    await this.leaderTxn()
      .then(
        client.delete().inRange({ start: keys.logPrefix, end: keys.record(at + 1) }),
        ...(previous > 0 ? [client.delete().prefix(keys.snapshotChunkPrefix(previous))] : []),
      )
      .commit()
      .catch((err: Error) => (this.options.warn ?? console.warn)(`deleting metadata records replaced by the snapshot failed: ${err.message}`));
  }

  private leaderTxn() {
    return this.options.client.if(this.options.leaderKey, 'Create', '==', this.options.epoch);
  }

  private async mustCommit(txn: { commit(): Promise<{ succeeded: boolean }> }, what: string): Promise<void> {
    const result = await txn.commit();
    if (!result.succeeded) {
      const error = new EtcdMetadataLogError('NOT_LEADER', `writing the metadata ${what} was refused: this broker is no longer the leader`);
      this.fail(error, []);
      throw error;
    }
  }

  private fail(error: EtcdMetadataLogError, batch: Pending<R>[], notify = true): void {
    const first = this.failure === null && notify;
    this.failure ??= error;
    for (const p of batch) p.reject(this.failure);
    for (const p of this.pending) p.reject(this.failure);
    this.pending = [];
    if (first) this.options.onFailure?.(this.failure);
  }
}

/** How many of the first pending records go in one transaction (at least one). */
function batchLength(pending: { bytes: Buffer }[]): number {
  let bytes = 0;
  let n = 0;
  while (n < pending.length && n < TXN_RECORDS_MAX && (n === 0 || bytes + pending[n].bytes.length <= TXN_BYTES_MAX)) bytes += pending[n++].bytes.length;
  return n;
}

function keysOf(prefix: string) {
  const base = prefix.replace(/\/+$/, '');
  const pad = (n: number) => String(n).padStart(SEQUENCE_DIGITS, '0');
  return {
    logPrefix: `${base}/meta/log/`,
    record: (sequence: number) => `${base}/meta/log/${pad(sequence)}`,
    snapshotHead: `${base}/meta/snapshot`,
    snapshotChunkPrefix: (sequence: number) => `${base}/meta/snapshot-${pad(sequence)}/`,
    snapshotChunk: (sequence: number, chunk: number) => `${base}/meta/snapshot-${pad(sequence)}/${String(chunk).padStart(6, '0')}`,
  };
}
