// The fast path's two-sided messages (UCX active messages) between the SDK
// and the broker. Stage, commit and watermark pushes are hot: fixed
// little-endian layouts, no allocation beyond the header buffer. Rare control
// messages (subscribe, exclusive acquire, segment announcements) carry JSON.
//
// Every request starts with a u32 request id that its reply echoes.

export const FastPathMessage = {
  STAGE: 20,
  STAGE_REPLY: 21,
  COMMIT: 22,
  COMMIT_REPLY: 23,
  ACQUIRE: 24,
  ACQUIRE_REPLY: 25,
  COMMIT_RANGE: 26,
  SUBSCRIBE: 27,
  SUBSCRIBE_REPLY: 28,
  WATERMARK: 29,
  SEGMENT: 30,
  UNSUBSCRIBE: 31,
  RELEASE: 32,
  LOCATE: 33,
  LOCATE_REPLY: 34,
  // SASL exchange of an SDK session (broker/security/fastpath-auth.ts): JSON both ways.
  AUTHENTICATE: 35,
  AUTHENTICATE_REPLY: 36,
  /** A cluster member's proof (control-plane/): JSON { proof }, no reply; sent first on a connection. */
  MEMBER: 37,
} as const;

export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireError';
  }
}

function need(buf: Buffer, bytes: number, what: string): void {
  if (buf.length < bytes) throw new WireError(`${what} message of ${buf.length} bytes is shorter than its ${bytes}-byte layout`);
}

// STAGE: reqId u32, topicId u32, partition u32, lengthBytes u32, recordCount u32
export interface StageRequest {
  reqId: number;
  topicId: number;
  partition: number;
  lengthBytes: number;
  recordCount: number;
}
const STAGE_BYTES = 20;

export function encodeStage(m: StageRequest): Buffer {
  const b = Buffer.allocUnsafe(STAGE_BYTES);
  b.writeUInt32LE(m.reqId, 0);
  b.writeUInt32LE(m.topicId, 4);
  b.writeUInt32LE(m.partition, 8);
  b.writeUInt32LE(m.lengthBytes, 12);
  b.writeUInt32LE(m.recordCount, 16);
  return b;
}

export function decodeStage(b: Buffer): StageRequest {
  need(b, STAGE_BYTES, 'STAGE');
  return { reqId: b.readUInt32LE(0), topicId: b.readUInt32LE(4), partition: b.readUInt32LE(8), lengthBytes: b.readUInt32LE(12), recordCount: b.readUInt32LE(16) };
}

// STAGE_REPLY: reqId u32, errorCode i16, pad u16, stageId u32, segmentId u32, position u32, pad u32, baseOffset i64
// payload: the segment's replica keys (encodeReplicaKeys) when this client has not had them yet, or the error text.
export interface StageReply {
  reqId: number;
  errorCode: number;
  stageId: number;
  segmentId: number;
  position: number;
  baseOffset: bigint;
}
const STAGE_REPLY_BYTES = 32;

export function encodeStageReply(m: StageReply): Buffer {
  const b = Buffer.alloc(STAGE_REPLY_BYTES);
  b.writeUInt32LE(m.reqId, 0);
  b.writeInt16LE(m.errorCode, 4);
  b.writeUInt32LE(m.stageId, 8);
  b.writeUInt32LE(m.segmentId, 12);
  b.writeUInt32LE(m.position, 16);
  b.writeBigInt64LE(m.baseOffset, 24);
  return b;
}

export function decodeStageReply(b: Buffer): StageReply {
  need(b, STAGE_REPLY_BYTES, 'STAGE_REPLY');
  return { reqId: b.readUInt32LE(0), errorCode: b.readInt16LE(4), stageId: b.readUInt32LE(8), segmentId: b.readUInt32LE(12), position: b.readUInt32LE(16), baseOffset: b.readBigInt64LE(24) };
}

// COMMIT: reqId u32, topicId u32, partition u32, count u32, then count x (stageId u32, pad u32, maxTimestamp i64)
export interface CommitRequest {
  reqId: number;
  topicId: number;
  partition: number;
  stages: { stageId: number; maxTimestamp: bigint }[];
}
const COMMIT_FIXED_BYTES = 16;
const COMMIT_ENTRY_BYTES = 16;
export const COMMIT_STAGES_MAX = 1024;

export function encodeCommit(m: CommitRequest): Buffer {
  const b = Buffer.alloc(COMMIT_FIXED_BYTES + COMMIT_ENTRY_BYTES * m.stages.length);
  b.writeUInt32LE(m.reqId, 0);
  b.writeUInt32LE(m.topicId, 4);
  b.writeUInt32LE(m.partition, 8);
  b.writeUInt32LE(m.stages.length, 12);
  m.stages.forEach((s, i) => {
    b.writeUInt32LE(s.stageId, COMMIT_FIXED_BYTES + i * COMMIT_ENTRY_BYTES);
    b.writeBigInt64LE(s.maxTimestamp, COMMIT_FIXED_BYTES + i * COMMIT_ENTRY_BYTES + 8);
  });
  return b;
}

export function decodeCommit(b: Buffer): CommitRequest {
  need(b, COMMIT_FIXED_BYTES, 'COMMIT');
  const count = b.readUInt32LE(12);
  if (count === 0 || count > COMMIT_STAGES_MAX) throw new WireError(`COMMIT names ${count} stages; allowed 1..${COMMIT_STAGES_MAX}`);
  need(b, COMMIT_FIXED_BYTES + count * COMMIT_ENTRY_BYTES, 'COMMIT');
  const stages = [];
  for (let i = 0; i < count; i++) {
    const at = COMMIT_FIXED_BYTES + i * COMMIT_ENTRY_BYTES;
    stages.push({ stageId: b.readUInt32LE(at), maxTimestamp: b.readBigInt64LE(at + 8) });
  }
  return { reqId: b.readUInt32LE(0), topicId: b.readUInt32LE(4), partition: b.readUInt32LE(8), stages };
}

// COMMIT_RANGE (exclusive producers): reqId, topicId, partition, segmentId, position, lengthBytes, recordCount, pad, baseOffset i64, maxTimestamp i64
export interface CommitRangeRequest {
  reqId: number;
  topicId: number;
  partition: number;
  segmentId: number;
  position: number;
  lengthBytes: number;
  recordCount: number;
  baseOffset: bigint;
  maxTimestamp: bigint;
}
const COMMIT_RANGE_BYTES = 48;

export function encodeCommitRange(m: CommitRangeRequest): Buffer {
  const b = Buffer.alloc(COMMIT_RANGE_BYTES);
  b.writeUInt32LE(m.reqId, 0);
  b.writeUInt32LE(m.topicId, 4);
  b.writeUInt32LE(m.partition, 8);
  b.writeUInt32LE(m.segmentId, 12);
  b.writeUInt32LE(m.position, 16);
  b.writeUInt32LE(m.lengthBytes, 20);
  b.writeUInt32LE(m.recordCount, 24);
  b.writeBigInt64LE(m.baseOffset, 32);
  b.writeBigInt64LE(m.maxTimestamp, 40);
  return b;
}

export function decodeCommitRange(b: Buffer): CommitRangeRequest {
  need(b, COMMIT_RANGE_BYTES, 'COMMIT_RANGE');
  return {
    reqId: b.readUInt32LE(0),
    topicId: b.readUInt32LE(4),
    partition: b.readUInt32LE(8),
    segmentId: b.readUInt32LE(12),
    position: b.readUInt32LE(16),
    lengthBytes: b.readUInt32LE(20),
    recordCount: b.readUInt32LE(24),
    baseOffset: b.readBigInt64LE(32),
    maxTimestamp: b.readBigInt64LE(40),
  };
}

// COMMIT_REPLY: reqId u32, errorCode i16, pad u16, highWatermark i64; payload: error text
export interface CommitReply {
  reqId: number;
  errorCode: number;
  highWatermark: bigint;
}
const COMMIT_REPLY_BYTES = 16;

export function encodeCommitReply(m: CommitReply): Buffer {
  const b = Buffer.alloc(COMMIT_REPLY_BYTES);
  b.writeUInt32LE(m.reqId, 0);
  b.writeInt16LE(m.errorCode, 4);
  b.writeBigInt64LE(m.highWatermark, 8);
  return b;
}

export function decodeCommitReply(b: Buffer): CommitReply {
  need(b, COMMIT_REPLY_BYTES, 'COMMIT_REPLY');
  return { reqId: b.readUInt32LE(0), errorCode: b.readInt16LE(4), highWatermark: b.readBigInt64LE(8) };
}

// WATERMARK push: topicId u32, partition u32, segmentId u32, commitPosition u32, endOffset i64, sealed u8
export interface WatermarkPush {
  topicId: number;
  partition: number;
  segmentId: number;
  commitPosition: number;
  endOffset: bigint;
  sealed: boolean;
}
const WATERMARK_BYTES = 25;

export function encodeWatermark(m: WatermarkPush): Buffer {
  const b = Buffer.alloc(WATERMARK_BYTES);
  b.writeUInt32LE(m.topicId, 0);
  b.writeUInt32LE(m.partition, 4);
  b.writeUInt32LE(m.segmentId, 8);
  b.writeUInt32LE(m.commitPosition, 12);
  b.writeBigInt64LE(m.endOffset, 16);
  b.writeUInt8(m.sealed ? 1 : 0, 24);
  return b;
}

export function decodeWatermark(b: Buffer): WatermarkPush {
  need(b, WATERMARK_BYTES, 'WATERMARK');
  return { topicId: b.readUInt32LE(0), partition: b.readUInt32LE(4), segmentId: b.readUInt32LE(8), commitPosition: b.readUInt32LE(12), endOffset: b.readBigInt64LE(16), sealed: b.readUInt8(24) === 1 };
}

// SUBSCRIBE request, its reply and SEGMENT announcements (JSON).
export interface SubscribeBody {
  topic: string;
  partition: number;
  /** 'earliest', 'latest', or an offset as a decimal string. */
  from: string;
}

export interface SegmentAnnouncement {
  topicId: number;
  partition: number;
  segmentId: number;
  baseOffset: string;
  startPosition: number;
  commitPosition: number;
  endOffset: string;
  sealed: boolean;
  dataCapacityBytes: number;
  /** Where the segment's copies are and their packed read-only keys (base64); the reader picks one. */
  replicas: ReplicaAnnouncement[];
  /** Ranges a reader must not read (corrupt at recovery): it reports CORRUPT_MESSAGE there. Absent when none. */
  fenced?: { startPosition: number; endPosition: number; baseOffset: string; endOffset: string }[];
}

/** Optional fields are absent when `error` is set. */
export interface SubscribeReplyBody {
  error?: { errorCode: number; message: string };
  topicId?: number;
  partition?: number;
  startOffset?: string;
  /** Where to begin reading: a batch at or before startOffset (-1: no segment yet). */
  startSegmentId?: number;
  startPosition?: number;
  highWatermark?: string;
  segments?: SegmentAnnouncement[];
  /**
   * This reader's place among the partition's readers: it prefers replica
   * `readerIndex % replicas.length` of each segment, so readers of one
   * partition spread over its copies (the "balance" policy).
   */
  readerIndex?: number;
}

/** One copy of a segment in an announcement: the storage node and its packed key, base64. */
export interface ReplicaAnnouncement {
  node: string;
  /** The storage node's fast-path (UCX) address, HOST:PORT. */
  address: string;
  key: string;
}

/** One copy of a segment a producer writes: the storage node, its UCX address and packed key. */
export interface ReplicaKey {
  node: string;
  address: string;
  key: Buffer;
}

// Replica keys, the binary payload of STAGE_REPLY and ACQUIRE_REPLY: u8 count,
// then per copy: u16 nodeLength, node (UTF-8), u16 addressLength, address,
// u32 keyLength, packed key. An empty payload: the client already holds them.
// A producer puts every batch to every copy listed.
export function encodeReplicaKeys(replicas: readonly ReplicaKey[]): Buffer {
  if (replicas.length === 0 || replicas.length > 255) throw new WireError(`a segment has 1 to 255 replicas, not ${replicas.length}`);
  const parts: Buffer[] = [Buffer.from([replicas.length])];
  for (const r of replicas) {
    const node = Buffer.from(r.node, 'utf8');
    const address = Buffer.from(r.address, 'utf8');
    const lengths = Buffer.allocUnsafe(8);
    lengths.writeUInt16LE(node.length, 0);
    lengths.writeUInt16LE(address.length, 2);
    lengths.writeUInt32LE(r.key.length, 4);
    parts.push(lengths.subarray(0, 2), node, lengths.subarray(2, 4), address, lengths.subarray(4, 8), r.key);
  }
  return Buffer.concat(parts);
}

export function decodeReplicaKeys(b: Buffer): ReplicaKey[] {
  need(b, 1, 'replica keys');
  const count = b.readUInt8(0);
  const replicas: ReplicaKey[] = [];
  let at = 1;
  const take = (bytes: number): Buffer => {
    need(b, at + bytes, 'replica keys');
    const part = b.subarray(at, at + bytes);
    at += bytes;
    return part;
  };
  for (let i = 0; i < count; i++) {
    const node = take(take(2).readUInt16LE(0)).toString('utf8');
    const address = take(take(2).readUInt16LE(0)).toString('utf8');
    const key = Buffer.from(take(take(4).readUInt32LE(0)));
    replicas.push({ node, address, key });
  }
  if (count === 0 || at !== b.length) throw new WireError(`replica keys: ${count} entries in ${b.length} bytes do not parse exactly`);
  return replicas;
}

// JSON messages: header = reqId u32 + UTF-8 JSON; bigint fields travel as strings.
export function encodeJson(reqId: number, body: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
  const b = Buffer.allocUnsafe(4 + json.length);
  b.writeUInt32LE(reqId, 0);
  json.copy(b, 4);
  return b;
}

export function decodeJson<T>(b: Buffer, what: string): { reqId: number; body: T } {
  need(b, 4, what);
  try {
    return { reqId: b.readUInt32LE(0), body: JSON.parse(b.subarray(4).toString('utf8')) as T };
  } catch (err) {
    throw new WireError(`${what} message carries malformed JSON: ${(err as Error).message}`);
  }
}

/** AUTHENTICATE (JSON): one client message of a SASL exchange. */
export interface AuthenticateBody {
  mechanism: string;
  /** base64 */
  authBytes: string;
}

/** AUTHENTICATE_REPLY (JSON): the server's answer; `done` once the session is authenticated as `principal`. */
export interface AuthenticateReplyBody {
  errorCode: number;
  message: string;
  /** base64 */
  authBytes: string;
  done: boolean;
  principal: string;
}
