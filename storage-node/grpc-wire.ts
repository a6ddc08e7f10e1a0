// What the storage gRPC server and client share: the loaded service
// definition, conversions between store types and wire messages, and the
// mapping of StorageError codes to gRPC status codes.
import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import { protoService } from '../control-plane';
import type { ProducerScan } from '../format';
import type { FencedRange, SegmentDescriptor, StorageUsage } from './segment-store';
import { isStorageErrorCode, StorageError, StorageErrorCode } from './storage-error';

// Code runs from dist/storage-node/; the .proto stays in the source folder.
export const STORAGE_PROTO_PATH = path.join(__dirname, '..', '..', 'storage-node', 'storage.proto');
export const ERROR_CODE_METADATA_KEY = 'rdmq-storage-error-code';

/** The StorageNode service constructor (its `.service` is the server-side definition). */
export function storageService(): grpc.ServiceClientConstructor {
  return protoService(STORAGE_PROTO_PATH, 'rdmq.storage.v1.StorageNode', { oneofs: true });
}

// ---- wire messages (as proto-loader decodes them: camelCase, 64-bit as strings) ----

export type WireSegmentState = 'SEGMENT_STATE_UNSPECIFIED' | 'SEGMENT_STATE_OPEN' | 'SEGMENT_STATE_SEALED';

export interface WireSegmentDescriptor {
  segmentId: string;
  state: WireSegmentState;
  topicId: number;
  partition: number;
  baseOffset: string;
  startPosition: number;
  writePosition: number;
  commitPosition: number;
  endOffset: string;
  maxTimestamp: string;
  createdAtMs: string;
  sealedAtMs: string;
  dataCapacityBytes: number;
}

export interface WireAllocateRequest {
  topicId: number;
  partition: number;
  baseOffset: string;
  /** 0: the node's default segment size. */
  dataCapacityBytes: number;
  /** '0': the node picks the id. */
  segmentId?: string;
}

export interface WireCommitRequest {
  segmentId: string;
  commitPosition: number;
  endOffset: string;
  maxTimestamp: string;
}

export interface WireWriteSkipMarkerRequest {
  segmentId: string;
  position: number;
  marker: Buffer;
}

export interface WireSealRequest {
  segmentId: string;
  finalPosition: number;
}

export interface WireSegmentIdRequest {
  segmentId: string;
}

export interface WireDescribeResponse {
  segments: WireSegmentDescriptor[];
}

export interface WireUsageResponse {
  segments: number;
  usedBytes: string;
  allocatedBytes: string;
  freeBytes: string;
  largestFreeBytes: string;
  segmentSizeBytes: string;
}

export function descriptorToWire(d: SegmentDescriptor): WireSegmentDescriptor {
  return {
    segmentId: String(d.segmentId),
    state: d.sealed ? 'SEGMENT_STATE_SEALED' : 'SEGMENT_STATE_OPEN',
    topicId: d.topicId,
    partition: d.partition,
    baseOffset: d.baseOffset.toString(),
    startPosition: d.startPosition,
    writePosition: d.writePosition,
    commitPosition: d.commitPosition,
    endOffset: d.endOffset.toString(),
    maxTimestamp: d.maxTimestamp.toString(),
    createdAtMs: String(d.createdAtMs),
    sealedAtMs: String(d.sealedAtMs),
    dataCapacityBytes: d.dataCapacityBytes,
  };
}

export function descriptorFromWire(w: WireSegmentDescriptor): SegmentDescriptor {
  const sealed = w.state === 'SEGMENT_STATE_SEALED';
  return {
    segmentId: parseSafeInteger('segmentId', w.segmentId),
    state: sealed ? 'SEALED' : 'OPEN',
    sealed,
    topicId: w.topicId,
    partition: w.partition,
    baseOffset: parseInt64('baseOffset', w.baseOffset),
    startPosition: w.startPosition,
    writePosition: w.writePosition,
    commitPosition: w.commitPosition,
    endOffset: parseInt64('endOffset', w.endOffset),
    maxTimestamp: parseInt64('maxTimestamp', w.maxTimestamp),
    createdAtMs: parseSafeInteger('createdAtMs', w.createdAtMs),
    sealedAtMs: parseSafeInteger('sealedAtMs', w.sealedAtMs),
    dataCapacityBytes: w.dataCapacityBytes,
  };
}

export interface WireFencedRange {
  segmentId: string;
  topicId: number;
  partition: number;
  startPosition: number;
  endPosition: number;
  baseOffset: string;
  endOffset: string;
  reason: string;
}

export function fencedToWire(f: FencedRange): WireFencedRange {
  return { ...f, segmentId: String(f.segmentId), baseOffset: f.baseOffset.toString(), endOffset: f.endOffset.toString() };
}

export function fencedFromWire(w: WireFencedRange): FencedRange {
  return {
    ...w,
    segmentId: parseSafeInteger('segmentId', w.segmentId),
    baseOffset: parseInt64('baseOffset', w.baseOffset),
    endOffset: parseInt64('endOffset', w.endOffset),
  };
}

export interface WireProducerScan {
  windows: { producerId: string; epoch: number; batches: { firstSequence: number; lastSequence: number; baseOffset: string; lastOffset: string }[] }[];
  batchCount: number;
  endPosition: number;
  stopReason: string;
}

export function producerScanToWire(scan: ProducerScan): WireProducerScan {
  return {
    windows: scan.windows.map((w) => ({
      producerId: w.producerId.toString(),
      epoch: w.epoch,
      batches: w.batches.map((b) => ({ firstSequence: b.firstSequence, lastSequence: b.lastSequence, baseOffset: b.baseOffset.toString(), lastOffset: b.lastOffset.toString() })),
    })),
    batchCount: scan.batchCount,
    endPosition: scan.endPosition,
    stopReason: scan.stopReason ?? '',
  };
}

export function producerScanFromWire(w: WireProducerScan): ProducerScan {
  return {
    windows: w.windows.map((window) => ({
      producerId: parseInt64('producerId', window.producerId),
      epoch: window.epoch,
      batches: window.batches.map((b) => ({
        firstSequence: b.firstSequence,
        lastSequence: b.lastSequence,
        baseOffset: parseInt64('baseOffset', b.baseOffset),
        lastOffset: parseInt64('lastOffset', b.lastOffset),
      })),
    })),
    batchCount: w.batchCount,
    endPosition: w.endPosition,
    stopReason: w.stopReason === '' ? undefined : w.stopReason,
  };
}

export function usageToWire(u: StorageUsage): WireUsageResponse {
  return {
    segments: u.segments,
    usedBytes: String(u.usedBytes),
    allocatedBytes: String(u.allocatedBytes),
    freeBytes: String(u.freeBytes),
    largestFreeBytes: String(u.largestFreeBytes),
    segmentSizeBytes: String(u.segmentSizeBytes),
  };
}

export function usageFromWire(w: WireUsageResponse): StorageUsage {
  return {
    segments: w.segments,
    usedBytes: parseSafeInteger('usedBytes', w.usedBytes),
    allocatedBytes: parseSafeInteger('allocatedBytes', w.allocatedBytes),
    freeBytes: parseSafeInteger('freeBytes', w.freeBytes),
    largestFreeBytes: parseSafeInteger('largestFreeBytes', w.largestFreeBytes),
    segmentSizeBytes: parseSafeInteger('segmentSizeBytes', w.segmentSizeBytes),
  };
}

export function parseInt64(name: string, value: string): bigint {
  try {
    return BigInt(value);
  } catch {
    throw new StorageError('INVALID_ARGUMENT', `${name} "${value}" is not a decimal 64-bit integer`);
  }
}

export function parseSafeInteger(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new StorageError('INVALID_ARGUMENT', `${name} "${value}" is not an integer below 2^53`);
  return n;
}

// ---- errors ----

const STATUS_OF: Record<StorageErrorCode, grpc.status> = {
  STORAGE_FULL: grpc.status.RESOURCE_EXHAUSTED,
  UNKNOWN_SEGMENT: grpc.status.NOT_FOUND,
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  INVALID_BATCH: grpc.status.INVALID_ARGUMENT,
  INVALID_POSITION: grpc.status.OUT_OF_RANGE,
  INVALID_STATE: grpc.status.FAILED_PRECONDITION,
  LAYOUT_MISMATCH: grpc.status.FAILED_PRECONDITION,
  UNSUPPORTED_VERSION: grpc.status.FAILED_PRECONDITION,
  CORRUPT_REGION: grpc.status.DATA_LOSS,
  CLOSED: grpc.status.UNAVAILABLE,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
  FENCED: grpc.status.FAILED_PRECONDITION,
  GRANT_INVALID: grpc.status.PERMISSION_DENIED,
  ACCESS_DENIED: grpc.status.PERMISSION_DENIED,
  GRANT_REVOKED: grpc.status.PERMISSION_DENIED,
  INTERNAL: grpc.status.INTERNAL,
};

export function grpcStatusOf(code: StorageErrorCode): grpc.status {
  return STATUS_OF[code];
}

/** Any error thrown by the store, as the status the server sends. */
export function toServiceError(err: unknown): Partial<grpc.StatusObject> {
  const storageError =
    err instanceof StorageError ? err : new StorageError('INTERNAL', err instanceof Error ? err.message : String(err));
  const metadata = new grpc.Metadata();
  metadata.set(ERROR_CODE_METADATA_KEY, storageError.code);
  return { code: STATUS_OF[storageError.code], details: storageError.message, metadata };
}

/** A failed call, as the StorageError the server threw (or UNAVAILABLE/INTERNAL for transport failures). */
export function fromServiceError(err: grpc.ServiceError): StorageError {
  const [code] = err.metadata?.get(ERROR_CODE_METADATA_KEY) ?? [];
  if (isStorageErrorCode(code)) return new StorageError(code, err.details);
  if (err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED) {
    return new StorageError('UNAVAILABLE', `storage node unreachable: ${err.details || grpc.status[err.code]}`);
  }
  return new StorageError('INTERNAL', `storage node call failed with ${grpc.status[err.code]}: ${err.details}`);
}
