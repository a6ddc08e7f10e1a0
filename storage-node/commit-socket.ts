// The commit stream on a plain socket (TLS when the control plane has it):
// the same steps as the gRPC Commits stream, in compact binary frames, with
// none of HTTP/2's framing, protobuf objects or grpc-js's per-message layers
// (they were most of a commit's round trip between two processes). The node
// listens beside its gRPC port, and on a Unix socket in its 0700 local-clients
// directory for a broker on its host (checked to be the same node process by
// the boot id in the handshake), and tells the broker both in Info; a broker
// that cannot reach either keeps using the gRPC stream.
//
// Trust, as on the gRPC stream: the node sends a fresh challenge on every
// connection; the broker answers with the cluster proof bound to it (so a
// proof seen on one connection proves nothing on another) and its leader
// epoch; only then are steps accepted, each message fenced by that epoch.
// A message is parsed whole before any of its steps runs; a frame that does
// not parse closes the connection (the broker fails what was in flight as
// UNAVAILABLE, outcome unknown, as for a broken stream).
//
// Frames: u32 LE length of what follows, u8 type, payload.
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import * as tls from 'tls';
import { noteLoopActivity } from '../addon';
import { controlPlaneSecurity, proofRefusal, proveMembership } from '../control-plane';
import { applyStep, asStorageError, CommitStep, CommitTarget, RangeCheck, StepResult } from './commit-channel';
import type { LeaderEpochFence } from './leader-epoch';
import type { AllocateRequest, CommitRequest, SegmentDescriptor } from './segment-store';
import { listenPrivately, UNIX_PATH_BYTES_MAX } from './private-socket';
import { isStorageErrorCode, StorageError } from './storage-error';

/** Frame types. */
export const COMMIT_FRAME = { challenge: 1, hello: 2, ready: 3, refused: 4, commit: 5, reply: 6 } as const;
const FRAME = COMMIT_FRAME;
/** Larger frames are a protocol error (1024 entries with long names stay far below). */
export const COMMIT_FRAME_BYTES_MAX = 16 * 1024 * 1024;
const CHALLENGE_BYTES = 32;
/** A stranger cannot make the node hold more than this before its proof was checked. */
const HELLO_FRAME_BYTES_MAX = 4096;
/** A connection that has not proved membership by then is closed. */
const HELLO_DEADLINE_MS = 5000;

const STEP_CHECK = 1;
const STEP_COMMIT = 2;
const STEP_VERIFY_CRC = 4;
const STEP_ALLOCATE = 8;
const STEP_SEAL = 16;
const STEP_GRANT_READ = 32;
const STEP_GRANT_READ_WRITE = 64;
const STEP_FLAGS = STEP_CHECK | STEP_COMMIT | STEP_VERIFY_CRC | STEP_ALLOCATE | STEP_SEAL | STEP_GRANT_READ | STEP_GRANT_READ_WRITE;

const RESULT_OK = 0;
const RESULT_SEGMENT = 1;
const RESULT_ERROR = 2;
const RESULT_KEY = 3;

/** What the proof is bound to: this method, on the connection the challenge was sent on. */
export function commitSocketMethod(challenge: Buffer): string {
  return `rdmq.storage.v1.StorageNode/CommitSocket/${challenge.toString('hex')}`;
}

// ---- framing ----

/** Frame header: u32 length of what follows, u8 type. */
const FRAME_HEADER_BYTES = 5;

export function frame(type: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  out.writeUInt32LE(payload.length + 1, 0);
  out.writeUInt8(type, 4);
  payload.copy(out, FRAME_HEADER_BYTES);
  return out;
}

/** Splits a byte stream into frames; throws on a frame past the limit. */
class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Largest frame accepted now (small until a connection proved membership). */
  limit = COMMIT_FRAME_BYTES_MAX;

  push(chunk: Buffer, onFrame: (type: number, payload: Buffer) => void): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (this.buffered >= 4) {
      const head = this.chunks.length === 1 ? this.chunks[0] : this.join();
      const length = head.readUInt32LE(0);
      if (length < 1 || length > this.limit) throw new StorageError('INVALID_ARGUMENT', `a commit frame of ${length} bytes (at most ${this.limit} here)`);
      if (this.buffered < 4 + length) return;
      const all = this.chunks.length === 1 ? this.chunks[0] : this.join();
      const type = all.readUInt8(4);
      const payload = all.subarray(5, 4 + length);
      const rest = all.subarray(4 + length);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.buffered = rest.length;
      onFrame(type, payload);
    }
  }

  private join(): Buffer {
    const all = Buffer.concat(this.chunks);
    this.chunks = [all];
    return all;
  }
}

/** Reads a payload front to back; any read past its end throws (a malformed frame). */
class PayloadReader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}

  u8(): number {
    return this.take(1, () => this.buf.readUInt8(this.at));
  }
  u16(): number {
    return this.take(2, () => this.buf.readUInt16LE(this.at));
  }
  u32(): number {
    return this.take(4, () => this.buf.readUInt32LE(this.at));
  }
  f64(): number {
    return this.take(8, () => this.buf.readDoubleLE(this.at));
  }
  i64(): bigint {
    return this.take(8, () => this.buf.readBigInt64LE(this.at));
  }
  text(length: number): string {
    return this.take(length, () => this.buf.toString('utf8', this.at, this.at + length));
  }
  /** A copy: the payload's buffer is reused for the next reads. */
  bytes(length: number): Buffer {
    return this.take(length, () => Buffer.from(this.buf.subarray(this.at, this.at + length)));
  }
  get done(): boolean {
    return this.at === this.buf.length;
  }

  private take<T>(n: number, read: () => T): T {
    if (this.at + n > this.buf.length) throw new StorageError('INVALID_ARGUMENT', 'a commit frame ends early');
    const value = read();
    this.at += n;
    return value;
  }
}

/** One message's payload, written after room for its frame header (a writer per message). */
class PayloadWriter {
  private buf = Buffer.allocUnsafe(256);
  private at = FRAME_HEADER_BYTES;

  u8(v: number): void {
    this.room(1);
    this.at = this.buf.writeUInt8(v, this.at);
  }
  u16(v: number): void {
    this.room(2);
    this.at = this.buf.writeUInt16LE(v, this.at);
  }
  u32(v: number): void {
    this.room(4);
    this.at = this.buf.writeUInt32LE(v, this.at);
  }
  f64(v: number): void {
    this.room(8);
    this.at = this.buf.writeDoubleLE(v, this.at);
  }
  i64(v: bigint): void {
    this.room(8);
    this.at = this.buf.writeBigInt64LE(v, this.at);
  }
  /** UTF-8 with a u16 (short) or u32 length before it. */
  text(v: string, long = false): void {
    const n = Buffer.byteLength(v);
    if (long) this.u32(n);
    else this.u16(Math.min(n, 0xffff));
    this.room(n);
    this.at += this.buf.write(v, this.at, long ? n : Math.min(n, 0xffff), 'utf8');
  }
  /** With a u32 length before them. */
  bytes(v: Buffer): void {
    this.u32(v.length);
    this.room(v.length);
    this.at += v.copy(this.buf, this.at);
  }
  /** The payload framed as `type`, the frame's header written in place. */
  frame(type: number): Buffer {
    this.buf.writeUInt32LE(this.at - FRAME_HEADER_BYTES + 1, 0);
    this.buf.writeUInt8(type, 4);
    return this.buf.subarray(0, this.at);
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(bigger, 0, 0, this.at);
    this.buf = bigger;
  }
}

/** One message of steps: sequence, then each step (segment id, the check and commit, or the allocation or seal, it carries). */
export function encodeCommitMessage(sequence: number, steps: { segmentId: number; step: CommitStep }[]): Buffer {
  const w = new PayloadWriter();
  w.u32(sequence);
  w.u32(steps.length);
  for (const { segmentId, step } of steps) {
    const { check, commit, allocate, seal, grant } = step;
    w.u8(
      (check ? STEP_CHECK : 0) |
        (commit ? STEP_COMMIT : 0) |
        (check && check.expected.verifyCrc !== false ? STEP_VERIFY_CRC : 0) |
        (allocate ? STEP_ALLOCATE : 0) |
        (seal ? STEP_SEAL : 0) |
        (grant === 'read' ? STEP_GRANT_READ : grant === 'read-write' ? STEP_GRANT_READ_WRITE : 0),
    );
    w.f64(segmentId);
    if (check) {
      w.f64(check.position);
      w.f64(check.lengthBytes);
      w.i64(check.expected.baseOffset);
      w.u32(check.expected.recordCount);
      w.f64(check.expected.batchBytesMax ?? 0);
      w.text(check.where);
    }
    if (commit) {
      w.f64(commit.commitPosition);
      w.i64(commit.endOffset);
      w.i64(commit.maxTimestamp);
    }
    if (allocate) {
      w.u32(allocate.topicId);
      w.u32(allocate.partition);
      w.i64(allocate.baseOffset);
      w.f64(allocate.dataCapacityBytes ?? 0);
    }
    if (seal) w.f64(seal.finalPosition);
  }
  return w.frame(FRAME.commit);
}

function wholeNumber(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0) throw new StorageError('INVALID_ARGUMENT', `${name} must be a non-negative integer, got ${v}`);
  return v;
}

/** Parses a whole message before anything runs; throws on any malformed field. */
export function decodeCommitMessage(payload: Buffer): { sequence: number; steps: { segmentId: number; step: CommitStep }[] } {
  const r = new PayloadReader(payload);
  const sequence = r.u32();
  const count = r.u32();
  const steps: { segmentId: number; step: CommitStep }[] = [];
  for (let i = 0; i < count; i++) {
    const flags = r.u8();
    // A step this node does not know (a newer broker's) is refused, not misread as the next step.
    if ((flags & ~STEP_FLAGS) !== 0) throw new StorageError('INVALID_ARGUMENT', `a commit step with unknown flags ${flags}`);
    const segmentId = wholeNumber('segmentId', r.f64());
    let check: RangeCheck | undefined;
    let commit: CommitRequest | undefined;
    let allocate: Omit<AllocateRequest, 'segmentId'> | undefined;
    let seal: { finalPosition: number } | undefined;
    if (flags & STEP_CHECK) {
      const position = wholeNumber('position', r.f64());
      const lengthBytes = wholeNumber('lengthBytes', r.f64());
      const baseOffset = r.i64();
      const recordCount = r.u32();
      const batchBytesMax = wholeNumber('batchBytesMax', r.f64());
      const where = r.text(r.u16());
      check = { position, lengthBytes, expected: { baseOffset, recordCount, verifyCrc: (flags & STEP_VERIFY_CRC) !== 0, batchBytesMax: batchBytesMax || undefined }, where };
    }
    if (flags & STEP_COMMIT) {
      commit = { commitPosition: wholeNumber('commitPosition', r.f64()), endOffset: r.i64(), maxTimestamp: r.i64() };
    }
    if (flags & STEP_ALLOCATE) {
      const topicId = r.u32();
      const partition = r.u32();
      const baseOffset = r.i64();
      const dataCapacityBytes = wholeNumber('dataCapacityBytes', r.f64());
      allocate = { topicId, partition, baseOffset, dataCapacityBytes: dataCapacityBytes || undefined };
    }
    if (flags & STEP_SEAL) seal = { finalPosition: wholeNumber('finalPosition', r.f64()) };
    if ((flags & STEP_GRANT_READ) && (flags & STEP_GRANT_READ_WRITE)) throw new StorageError('INVALID_ARGUMENT', 'a grant step asks for two accesses');
    const grant = flags & STEP_GRANT_READ ? 'read' : flags & STEP_GRANT_READ_WRITE ? 'read-write' : undefined;
    steps.push({ segmentId, step: { check, commit, allocate, seal, grant } });
  }
  if (!r.done) throw new StorageError('INVALID_ARGUMENT', 'a commit frame has bytes past its last step');
  return { sequence, steps };
}

export function encodeCommitReply(sequence: number, results: StepResult[]): Buffer {
  const w = new PayloadWriter();
  w.u32(sequence);
  w.u32(results.length);
  for (const result of results) {
    if (result.error) {
      w.u8(RESULT_ERROR);
      w.text(result.error.code);
      w.text(result.error.message, true);
    } else if (result.segment) {
      w.u8(RESULT_SEGMENT);
      writeDescriptor(w, result.segment);
    } else if (result.key) {
      w.u8(RESULT_KEY);
      w.bytes(result.key);
    } else {
      w.u8(RESULT_OK);
    }
  }
  return w.frame(FRAME.reply);
}

/** The segment after a commit, field by field (no text, no parsing of numbers). */
function writeDescriptor(w: PayloadWriter, d: SegmentDescriptor): void {
  w.f64(d.segmentId);
  w.u8(d.sealed ? 1 : 0);
  w.u32(d.topicId);
  w.u32(d.partition);
  w.i64(d.baseOffset);
  w.f64(d.startPosition);
  w.f64(d.writePosition);
  w.f64(d.commitPosition);
  w.i64(d.endOffset);
  w.i64(d.maxTimestamp);
  w.f64(d.createdAtMs);
  w.f64(d.sealedAtMs);
  w.f64(d.dataCapacityBytes);
}

function readDescriptor(r: PayloadReader): SegmentDescriptor {
  const segmentId = wholeNumber('segmentId', r.f64());
  const sealed = r.u8() === 1;
  return {
    segmentId,
    state: sealed ? 'SEALED' : 'OPEN',
    sealed,
    topicId: r.u32(),
    partition: r.u32(),
    baseOffset: r.i64(),
    startPosition: r.f64(),
    writePosition: r.f64(),
    commitPosition: r.f64(),
    endOffset: r.i64(),
    maxTimestamp: r.i64(),
    createdAtMs: r.f64(),
    sealedAtMs: r.f64(),
    dataCapacityBytes: r.f64(),
  };
}

export function decodeCommitReply(payload: Buffer): { sequence: number; results: StepResult[] } {
  const r = new PayloadReader(payload);
  const sequence = r.u32();
  const count = r.u32();
  const results: StepResult[] = [];
  for (let i = 0; i < count; i++) {
    const kind = r.u8();
    if (kind === RESULT_ERROR) {
      const code = r.text(r.u16());
      const message = r.text(r.u32());
      results.push({ error: new StorageError(isStorageErrorCode(code) ? code : 'INTERNAL', message) });
    } else if (kind === RESULT_SEGMENT) {
      results.push({ segment: readDescriptor(r) });
    } else if (kind === RESULT_KEY) {
      results.push({ key: r.bytes(r.u32()) });
    } else if (kind === RESULT_OK) {
      results.push({});
    } else {
      throw new StorageError('INVALID_ARGUMENT', `a commit reply with result kind ${kind}`);
    }
  }
  return { sequence, results };
}

// ---- the node's side ----

export interface CommitSocketServer {
  port: number;
  /** The Unix socket for a broker on this host, when there is one. */
  localPath?: string;
  close(): Promise<void>;
}

export interface CommitSocketServerOptions {
  host: string;
  /** The TCP port (default 0: one the system picks; the broker learns it from Info). */
  port?: number;
  /** Told to the broker in the handshake, so it knows it reached the node Info described. */
  bootId: string;
  /** A directory only this user may enter: the node also listens on commit.sock there, for a broker on this host. */
  localDir?: string;
  log?: (message: string) => void;
}

/** Listens on `host` (`port`, or any free port), and on a Unix socket in `localDir`, for brokers' commit sockets. */
export async function startCommitSocketServer(target: () => CommitTarget, fence: LeaderEpochFence, options: CommitSocketServerOptions): Promise<CommitSocketServer> {
  const { host, bootId, log } = options;
  const t = controlPlaneSecurity().tls;
  const onConnection = (socket: net.Socket): void => serveConnection(socket, target, fence, bootId, log);
  const server: net.Server = t?.cert && t.key ? tls.createServer({ cert: t.cert, key: t.key }, onConnection) : net.createServer(onConnection);
  const sockets = new Set<net.Socket>();
  server.on(t?.cert && t.key ? 'secureConnection' : 'connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // A TLS handshake that fails is the client's problem; the listener goes on.
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  server.on('error', (err) => log?.(`commit socket listener: ${err.message}`));
  const local = options.localDir ? await listenLocal(options.localDir, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    onConnection(socket);
  }, log) : undefined;
  const closeServer = (s: net.Server): Promise<void> => new Promise<void>((resolve) => s.close(() => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    localPath: local?.path,
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all([closeServer(server), local ? closeServer(local.server) : undefined]);
    },
  };
}

/** `<dir>/commit.sock` (the directory 0700, as the data path's local socket); none when the path is too long or listening fails. */
async function listenLocal(dir: string, onConnection: (socket: net.Socket) => void, log?: (message: string) => void): Promise<{ server: net.Server; path: string } | undefined> {
  const socketPath = path.join(dir, 'commit.sock');
  if (Buffer.byteLength(socketPath) > UNIX_PATH_BYTES_MAX) {
    log?.(`no local commit socket: ${socketPath} is longer than ${UNIX_PATH_BYTES_MAX} bytes (brokers on this host use TCP)`);
    return undefined;
  }
  try {
    const server = net.createServer(onConnection);
    await listenPrivately(server, dir, socketPath);
    return { server, path: socketPath };
  } catch (err) {
    log?.(`no local commit socket at ${socketPath}: ${(err as Error).message} (brokers on this host use TCP)`);
    return undefined;
  }
}

function serveConnection(socket: net.Socket, target: () => CommitTarget, fence: LeaderEpochFence, bootId: string, log?: (message: string) => void): void {
  socket.setNoDelay(true);
  const challenge = randomBytes(CHALLENGE_BYTES);
  const reader = new FrameReader();
  reader.limit = HELLO_FRAME_BYTES_MAX;
  let epoch: bigint | undefined;
  let member = false;
  const refuse = (code: string, message: string): void => {
    log?.(`refused a commit socket from ${socket.remoteAddress}:${socket.remotePort}: ${message}`);
    socket.end(frame(FRAME.refused, Buffer.from(JSON.stringify({ code, message }))));
  };
  const helloTimer = setTimeout(() => refuse('ACCESS_DENIED', `no cluster proof within ${HELLO_DEADLINE_MS} ms`), HELLO_DEADLINE_MS);
  socket.on('close', () => clearTimeout(helloTimer));
  socket.on('error', () => undefined);
  socket.write(frame(FRAME.challenge, challenge));
  // The replies to one read's messages leave in one write: a write that wakes the broker costs more than the copy.
  let replies: Buffer[] = [];
  const sendReplies = (): void => {
    if (replies.length === 0) return;
    socket.write(replies.length === 1 ? replies[0] : Buffer.concat(replies));
    replies = [];
  };
  socket.on('data', (chunk: Buffer) => {
    noteLoopActivity(true);
    try {
      reader.push(chunk, (type, payload) => {
        if (!member) {
          if (type !== FRAME.hello) throw new StorageError('ACCESS_DENIED', 'a commit socket must prove membership first');
          clearTimeout(helloTimer);
          const hello = JSON.parse(payload.toString('utf8')) as { proof?: unknown; epoch?: unknown };
          const refusal = proofRefusal(controlPlaneSecurity().clusterSecret, commitSocketMethod(challenge), typeof hello.proof === 'string' ? hello.proof : undefined);
          if (refusal !== undefined) throw new StorageError('ACCESS_DENIED', `the commit socket is for members of the cluster only: ${refusal}`);
          if (hello.epoch !== undefined && (typeof hello.epoch !== 'string' || !/^\d{1,19}$/.test(hello.epoch))) throw new StorageError('INVALID_ARGUMENT', `the leader epoch must be a non-negative integer, got ${JSON.stringify(hello.epoch)}`);
          epoch = hello.epoch === undefined ? undefined : BigInt(hello.epoch);
          member = true;
          reader.limit = COMMIT_FRAME_BYTES_MAX;
          socket.write(frame(FRAME.ready, Buffer.from(bootId)));
          return;
        }
        if (type !== FRAME.commit) throw new StorageError('INVALID_ARGUMENT', `unexpected commit socket frame type ${type}`);
        const message = decodeCommitMessage(payload);
        let results: StepResult[];
        try {
          // Per message: a newer leader may have claimed the node since the socket opened.
          fence.admit(epoch, 'Commits');
          const t = target();
          results = message.steps.map(({ segmentId, step }) => applyStep(t, segmentId, step));
        } catch (err) {
          const error = asStorageError(err);
          results = message.steps.map(() => ({ error }));
        }
        replies.push(encodeCommitReply(message.sequence, results));
      });
      sendReplies();
    } catch (err) {
      // What was answered before the bad frame still goes, ahead of the refusal.
      sendReplies();
      const error = asStorageError(err);
      if (socket.writable) refuse(error.code, error.message);
      // Nothing more is read from a connection that broke the protocol.
      socket.removeAllListeners('data');
      socket.destroySoon();
    }
  });
}

// ---- the broker's side ----

/** Where and how the broker reaches a node's commit socket: a Unix socket path, or host and port. */
export interface CommitSocketPlace {
  path?: string;
  host: string;
  port: number;
  leaderEpoch?: bigint;
  /** The node's boot id from Info: a socket answering with another is not the node asked (refused). */
  bootId?: string;
}

/** An open, proven connection: write messages, get replies, learn when it broke. */
export class CommitSocket {
  private readonly reader = new FrameReader();
  private onReply: (sequence: number, results: StepResult[]) => void = () => undefined;
  private onBroken: (err: StorageError) => void = () => undefined;
  private gone = false;

  private constructor(private readonly socket: net.Socket) {}

  /** Connects and proves membership; rejects with the node's refusal, or UNAVAILABLE. */
  static open(place: CommitSocketPlace, timeoutMs: number): Promise<CommitSocket> {
    const t = controlPlaneSecurity().tls;
    // The Unix socket is on this host, in a directory only this user may enter: no TLS there.
    const socket: net.Socket = place.path
      ? net.connect({ path: place.path })
      : t && (t.ca || t.cert)
        ? tls.connect({ host: place.host, port: place.port, ca: t.ca, cert: t.cert, key: t.key, servername: net.isIP(place.host) ? undefined : place.host })
        : net.connect({ host: place.host, port: place.port });
    if (!place.path) socket.setNoDelay(true);
    const where = place.path ?? `${place.host}:${place.port}`;
    return new Promise<CommitSocket>((resolve, reject) => {
      const reader = new FrameReader();
      const fail = (err: StorageError): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      const timer = setTimeout(() => fail(new StorageError('UNAVAILABLE', `no commit socket at ${where} within ${timeoutMs} ms`)), timeoutMs);
      socket.on('error', (err) => fail(new StorageError('UNAVAILABLE', `commit socket at ${where}: ${err.message}`)));
      socket.on('close', () => fail(new StorageError('UNAVAILABLE', `the commit socket at ${where} closed during its handshake`)));
      const onData = (chunk: Buffer): void => {
        try {
          reader.push(chunk, (type, payload) => {
            if (type === FRAME.challenge) {
              const secret = controlPlaneSecurity().clusterSecret;
              const hello = { proof: secret ? proveMembership(secret, commitSocketMethod(payload)) : undefined, epoch: place.leaderEpoch?.toString() };
              socket.write(frame(FRAME.hello, Buffer.from(JSON.stringify(hello))));
            } else if (type === FRAME.refused) {
              const { code, message } = JSON.parse(payload.toString('utf8')) as { code: string; message: string };
              fail(new StorageError(isStorageErrorCode(code) ? code : 'INTERNAL', message));
            } else if (type === FRAME.ready) {
              const bootId = payload.toString('utf8');
              if (place.bootId !== undefined && bootId !== place.bootId) {
                fail(new StorageError('UNAVAILABLE', `the commit socket at ${where} is another storage node process (boot id ${bootId}, expected ${place.bootId})`));
                return;
              }
              clearTimeout(timer);
              socket.removeAllListeners('data');
              socket.removeAllListeners('error');
              socket.removeAllListeners('close');
              const open = new CommitSocket(socket);
              open.listen();
              resolve(open);
            } else {
              throw new StorageError('INVALID_ARGUMENT', `unexpected commit socket frame type ${type} during the handshake`);
            }
          });
        } catch (err) {
          fail(err instanceof StorageError ? err : new StorageError('UNAVAILABLE', String(err)));
        }
      };
      socket.on('data', onData);
    });
  }

  /** Where replies and the end go (set once, before the first write). */
  attach(onReply: (sequence: number, results: StepResult[]) => void, onBroken: (err: StorageError) => void): void {
    this.onReply = onReply;
    this.onBroken = onBroken;
  }

  write(sequence: number, steps: { segmentId: number; step: CommitStep }[]): void {
    this.socket.write(encodeCommitMessage(sequence, steps));
    noteLoopActivity(false);
  }

  get broken(): boolean {
    return this.gone;
  }

  close(): void {
    this.gone = true;
    this.socket.destroy();
  }

  private listen(): void {
    this.socket.on('data', (chunk: Buffer) => {
      noteLoopActivity(true);
      try {
        this.reader.push(chunk, (type, payload) => {
          if (type === FRAME.reply) {
            const { sequence, results } = decodeCommitReply(payload);
            this.onReply(sequence, results);
          } else if (type === FRAME.refused) {
            const { code, message } = JSON.parse(payload.toString('utf8')) as { code: string; message: string };
            this.end(new StorageError('UNAVAILABLE', `the storage node closed the commit socket (${code}: ${message})`));
          } else {
            throw new StorageError('INVALID_ARGUMENT', `unexpected commit socket frame type ${type}`);
          }
        });
      } catch (err) {
        this.end(new StorageError('UNAVAILABLE', `the commit socket broke: ${(err as Error).message}`));
      }
    });
    this.socket.on('error', (err) => this.end(new StorageError('UNAVAILABLE', `storage node unreachable: the commit socket broke (${err.message})`)));
    this.socket.on('close', () => this.end(new StorageError('UNAVAILABLE', 'the storage node closed the commit socket')));
  }

  private end(err: StorageError): void {
    if (this.gone) return;
    this.gone = true;
    this.socket.destroy();
    this.onBroken(err);
  }
}
