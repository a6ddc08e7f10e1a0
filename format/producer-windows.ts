// What an idempotent producer has written to one partition, as Kafka's
// ProducerStateManager keeps it: the producer's epoch and its last five
// batches (sequences and offsets), oldest first. Every field comes from the
// batches' own v2 headers, so the window is rebuilt from the committed log
// itself after any crash; nothing else has to be durable for a retried batch
// to be recognised.
//
// Pure: a fold over batch headers in offset order. The storage node folds
// each segment where the data lies (scanProducerWindows), the broker merges
// the segments' windows in offset order and then keeps folding every batch it
// appends (same rules, one home).
import {
  ATTRIBUTES_OFFSET,
  BASE_OFFSET_OFFSET,
  BASE_SEQUENCE_OFFSET,
  BATCH_LENGTH_MIN,
  BATCH_LENGTH_OFFSET,
  CONTROL_ATTRIBUTE,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAGIC_OFFSET,
  MAGIC_V2,
  PRODUCER_EPOCH_OFFSET,
  PRODUCER_ID_OFFSET,
  RECORD_BATCH_OVERHEAD,
  RECORD_COUNT_OFFSET,
} from './batch-layout';
import { readInt64BE } from './int64';

/** Kafka keeps the last five batches per producer and partition to answer retries. */
export const PRODUCER_BATCHES_REMEMBERED = 5;
export const MAX_SEQUENCE = 0x7fffffff;

export interface ProducerBatch {
  firstSequence: number;
  lastSequence: number;
  baseOffset: bigint;
  lastOffset: bigint;
}

export interface ProducerWindow {
  producerId: bigint;
  epoch: number;
  /** At most PRODUCER_BATCHES_REMEMBERED, oldest first, all of `epoch`. */
  batches: ProducerBatch[];
}

/** producerId → window; insertion order is the order of each producer's last write. */
export type ProducerWindows = Map<bigint, ProducerWindow>;

/** Sequences wrap at 2^31-1 like Kafka's. */
export function lastSequenceOf(firstSequence: number, recordCount: number): number {
  return (firstSequence + recordCount - 1) % (MAX_SEQUENCE + 1);
}

/**
 * Folds one batch of `producerId` at `epoch` into `windows`: a newer epoch
 * starts the window again, an older one is ignored (it cannot follow a newer
 * one in a valid log), a batch at or below the window's last offset is one
 * already folded (a rescan) and changes nothing.
 */
export function foldProducerBatch(windows: ProducerWindows, producerId: bigint, epoch: number, batch: ProducerBatch): void {
  const window = windows.get(producerId);
  if (window && epoch < window.epoch) return;
  if (window && epoch === window.epoch) {
    const last = window.batches[window.batches.length - 1];
    if (last && batch.baseOffset <= last.lastOffset) return;
  }
  const batches = window && window.epoch === epoch ? window.batches : [];
  batches.push({ ...batch });
  if (batches.length > PRODUCER_BATCHES_REMEMBERED) batches.splice(0, batches.length - PRODUCER_BATCHES_REMEMBERED);
  windows.delete(producerId);
  windows.set(producerId, { producerId, epoch, batches });
}

/** Folds the windows of a later stretch of the log (a later segment) into `windows`. */
export function mergeProducerWindows(windows: ProducerWindows, later: Iterable<ProducerWindow>): void {
  for (const window of later) {
    for (const batch of window.batches) foldProducerBatch(windows, window.producerId, window.epoch, batch);
  }
}

export interface ProducerScan {
  windows: ProducerWindow[];
  /** Batches stepped over, markers and non-idempotent ones included. */
  batchCount: number;
  /** Where the walk ended: `end`, or the start of a header it could not step over. */
  endPosition: number;
  /** Why the walk stopped before `end`, if it did. */
  stopReason?: string;
}

/** What the walk keeps per producer: where its last batches start, decoded only at the end. */
interface WalkedProducer {
  epoch: number;
  /** Positions of its last batches of `epoch`, oldest first, at most PRODUCER_BATCHES_REMEMBERED. */
  positions: number[];
}

/**
 * Walks the batch headers of `data[start, end)` (committed bytes) and keeps
 * every idempotent producer's window. Header-only: it reads a few header
 * fields per batch and steps by batchLength, never touching records or CRCs
 * (the recovery scan checked those). Skip markers and control batches
 * (producer id -1 or the control bit) and non-idempotent batches are stepped
 * over. Per batch it reads int32s and keeps a position, so nothing is
 * allocated per batch; offsets and sequences are decoded for the last five
 * batches of each producer only.
 *
 * Cost: 0.3–0.6 µs per batch, measured on 2 cores at load average 14 (a
 * quieter machine does better). A full 4 GiB region holds ~260,000 batches
 * of 16 KiB (~0.1 s) or ~4 million of 1 KiB (~2 s); the worst case, ~48
 * million batches of ~90 bytes, is ~15–25 s at that rate. Every page is
 * touched once: the bytes the storage node's recovery CRC scan already reads
 * at open. No snapshots yet (Kafka keeps one per segment to scan less).
 */
export function scanProducerWindows(data: Buffer, start: number, end: number): ProducerScan {
  const walked = new Map<number | string, WalkedProducer>();
  let position = start;
  let batchCount = 0;
  let stopReason: string | undefined;
  while (position < end) {
    if (end - position < RECORD_BATCH_OVERHEAD) {
      stopReason = `${end - position} bytes at position ${position} are too few for a batch header`;
      break;
    }
    const batchLength = data.readInt32BE(position + BATCH_LENGTH_OFFSET);
    const magic = data.readInt8(position + MAGIC_OFFSET);
    if (batchLength < BATCH_LENGTH_MIN || batchLength > end - position - LOG_OVERHEAD || magic !== MAGIC_V2) {
      stopReason = `batch at position ${position} has batchLength ${batchLength} and magic ${magic}; it cannot be stepped over`;
      break;
    }
    const producerIdHigh = data.readInt32BE(position + PRODUCER_ID_OFFSET);
    const isControl = (data.readInt16BE(position + ATTRIBUTES_OFFSET) & CONTROL_ATTRIBUTE) !== 0;
    if (producerIdHigh >= 0 && !isControl) {
      const epoch = data.readInt16BE(position + PRODUCER_EPOCH_OFFSET);
      if (epoch >= 0 && data.readInt32BE(position + BASE_SEQUENCE_OFFSET) >= 0) {
        // Ids below 2^53 (all of them in practice) are keyed as numbers: no allocation per batch.
        const id = readInt64BE(data, position + PRODUCER_ID_OFFSET);
        walkBatch(walked, typeof id === 'number' ? id : id.toString(), epoch, position);
      }
    }
    batchCount++;
    position += LOG_OVERHEAD + batchLength;
  }
  const windows = [...walked.values()]
    .sort((a, b) => a.positions[a.positions.length - 1] - b.positions[b.positions.length - 1])
    .map((w) => windowAt(data, w));
  return { windows, batchCount, endPosition: position, stopReason };
}

function walkBatch(walked: Map<number | string, WalkedProducer>, key: number | string, epoch: number, position: number): void {
  const producer = walked.get(key);
  if (!producer) {
    walked.set(key, { epoch, positions: [position] });
  } else if (epoch > producer.epoch) {
    producer.epoch = epoch;
    producer.positions = [position];
  } else if (epoch === producer.epoch) {
    if (producer.positions.length === PRODUCER_BATCHES_REMEMBERED) producer.positions.shift();
    producer.positions.push(position);
  }
}

function windowAt(data: Buffer, walked: WalkedProducer): ProducerWindow {
  const first = walked.positions[0];
  return {
    producerId: data.readBigInt64BE(first + PRODUCER_ID_OFFSET),
    epoch: walked.epoch,
    batches: walked.positions.map((position) => {
      const firstSequence = data.readInt32BE(position + BASE_SEQUENCE_OFFSET);
      const baseOffset = data.readBigInt64BE(position + BASE_OFFSET_OFFSET);
      return {
        firstSequence,
        lastSequence: lastSequenceOf(firstSequence, Math.max(1, data.readInt32BE(position + RECORD_COUNT_OFFSET))),
        baseOffset,
        lastOffset: baseOffset + BigInt(Math.max(0, data.readInt32BE(position + LAST_OFFSET_DELTA_OFFSET))),
      };
    }),
  };
}
