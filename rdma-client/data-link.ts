// One connection to a storage node's checked data path
// (format/storage-data-wire.ts). A put resolves once the node has checked the
// grant and the bytes are in its region (so `local` may be reused at once); a
// get resolves once the bytes are in `local`. A refusal rejects with the
// node's error code and message; a lost connection rejects everything in
// flight and emits 'close' once.
//
// On the node's host the link moves to the node's Unix socket (found with
// LOCAL_DOOR on the TCP address, and proven the same node by its token). There
// the node copies between its region and this process's buffers itself (CMA),
// after checking the grant; this process only names its own buffer. When the
// kernel refuses the node that copy (Yama, other users, containers) the link
// says why (process warning) and carries bytes on the Unix socket instead.
// While a copy may be under way, its buffer stays referenced and its promise
// pending: a link this side gives up on is half-closed, and in-flight
// requests settle only once the node has answered them or closed (it copies
// only while it serves a request, so after its close nothing lands).
//
// Contract: single-threaded (JS); many requests may be in flight, answered in order.
import { randomBytes } from 'crypto';
import { EventEmitter } from 'events';
import * as fs from 'fs';
import * as net from 'net';
import { allowPtracer, bufferAddress, noteLoopActivity, peerProcessPid } from '../addon';
import { ChunkQueue } from '../format/chunk-queue';
import {
  CMA_PROBE_BYTES,
  DATA_RESPONSE_HEADER_BYTES,
  DataOp,
  DataOpCode,
  DataResponseHeader,
  decodeDataResponseHeader,
  decodeLocalDoor,
  encodeDataRequest,
} from '../format/storage-data-wire';
import { InProcessData, openInProcessData } from '../format/in-process-data';

/** A refusal by the storage node (its StorageError code and message). */
export class DataRefusedError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'DataRefusedError';
  }
}

interface InFlight {
  reqId: number;
  /** Where a get's bytes go (null: the node copied them itself, or none are expected). */
  local: Uint8Array | null;
  /** The buffer the node copies from or into by address: referenced until the answer. */
  copied?: Uint8Array;
  /** A body the request expects that is not a get's bytes (LOCAL_DOOR, CMA_PROBE). */
  reply?: (body: Buffer) => void;
  resolve(): void;
  reject(err: Error): void;
}

export interface DataLinkOptions {
  /** false: stay on TCP even on the node's host. */
  local?: boolean;
  /** Smallest put or get copied by address (default 1 KiB; tests use 1 to copy everything). */
  cmaBytesMin?: number;
  /** false: requests go to the node's socket even when it serves in this process (tests of that path). */
  inProcess?: boolean;
}

/** How this link reaches its node. */
export type DataLinkPath = 'tcp' | 'unix' | 'unix-cma';

const CONNECT_TIMEOUT_MS = 10_000;
const LOCAL_CONNECT_TIMEOUT_MS = 2_000;
/**
 * Puts and gets up to this size at a node in this process are a copy on the
 * JS thread; larger ones (kafkajs asking 32 MiB) stay copies by address on
 * the node's thread pool: they overlap other work, and their fresh buffers
 * fault their pages in the kernel's copy rather than one user fault per page
 * here. A 512 KiB put on the socket and the pool took ~400 µs here, the copy
 * itself ~110.
 */
const IN_PROCESS_BYTES_MAX = 4 * 1024 * 1024;
/** Gets by address at least twice this large go as parts (at most CMA_PARTS_MAX) the node copies in parallel. */
const CMA_PART_BYTES_MIN = 1024 * 1024;
const CMA_PARTS_MAX = 4;
/** Below this a put or get carries its bytes: a copy by address saves nothing there. */
const CMA_BYTES_MIN = 1024;
const YAMA_PTRACE_SCOPE = '/proc/sys/kernel/yama/ptrace_scope';
/** The storage process this one let trace it (prctl allows one at a time); 0: none. */
let ptracerPid = 0;

export class DataLink extends EventEmitter {
  private readonly inFlight: InFlight[] = [];
  private readonly queue = new ChunkQueue();
  private response: DataResponseHeader | undefined;
  private bodyReceived = 0;
  private answerBody: Buffer | undefined;
  private nextReqId = 1;
  private lostReason: string | undefined;
  /** Puts and gets name this process's buffers and the node copies (CMA). */
  private copiesByAddress = false;
  /** Puts and gets served by a direct call: the node runs in this process (format/in-process-data.ts). */
  private inProcess: InProcessData | undefined;
  /** Why the link is not copying by address ('' while it is). */
  note = '';
  private cmaBytesMin = CMA_BYTES_MIN;

  private constructor(
    private readonly socket: net.Socket,
    readonly remoteAddress: string,
    private readonly local: boolean,
  ) {
    super();
    if (!local) socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', () => undefined);
    socket.once('close', () => this.lost(`connection to storage node at ${remoteAddress} closed`, true));
  }

  /**
   * Connects to a node's data address; on the node's own host, moves to its
   * Unix socket and, where the kernel allows it, to copies by address.
   * RDMQ_LOCAL_DATA=off (or `local: false`) keeps the link on TCP.
   */
  static async connect(address: string, options: DataLinkOptions = {}): Promise<DataLink> {
    const at = address.lastIndexOf(':');
    const host = address.slice(0, at).replace(/^\[|\]$/g, '');
    const port = Number(address.slice(at + 1));
    const tcp = new DataLink(await openSocket({ host, port }, address, CONNECT_TIMEOUT_MS), address, false);
    if (options.local === false || process.env.RDMQ_LOCAL_DATA === 'off') return tcp;
    const local = await tcp.localLink(options).catch(() => undefined);
    if (!local) {
      // A node that does not know LOCAL_DOOR closes the connection on it: connect again, without asking.
      return tcp.closed ? new DataLink(await openSocket({ host, port }, address, CONNECT_TIMEOUT_MS), address, false) : tcp;
    }
    if (options.cmaBytesMin !== undefined) local.cmaBytesMin = options.cmaBytesMin;
    await tcp.close();
    return local;
  }

  get closed(): boolean {
    return this.lostReason !== undefined;
  }

  /** How this link reaches its node now. */
  get path(): DataLinkPath {
    return !this.local ? 'tcp' : this.copiesByAddress ? 'unix-cma' : 'unix';
  }

  put(grant: Uint8Array, position: number, local: Uint8Array): Promise<void> {
    if (this.inProcess && local.length <= IN_PROCESS_BYTES_MAX) return this.inProcessCall(() => this.inProcess!.put(grant, position, local));
    if (this.copiesByAddress && local.length >= this.cmaBytesMin) {
      return this.request({ op: DataOp.PUT_CMA, grant, position, lengthBytes: local.length, local: null, copied: local, clientAddress: bufferAddress(local) });
    }
    return this.request({ op: DataOp.PUT, grant, position, lengthBytes: local.length, local: null, payload: local });
  }

  get(grant: Uint8Array, position: number, local: Uint8Array): Promise<void> {
    if (this.inProcess && local.length <= IN_PROCESS_BYTES_MAX) return this.inProcessCall(() => this.inProcess!.get(grant, position, local));
    if (this.copiesByAddress && local.length >= 2 * CMA_PART_BYTES_MIN) return this.getInParts(grant, position, local);
    if (this.copiesByAddress && local.length >= this.cmaBytesMin) {
      return this.request({ op: DataOp.GET_CMA, grant, position, lengthBytes: local.length, local: null, copied: local, clientAddress: bufferAddress(local) });
    }
    return this.request({ op: DataOp.GET, grant, position, lengthBytes: local.length, local });
  }

  /**
   * A large get by address as parts the node copies at once, each on a
   * thread of its pool. Settles once every part has: a part still copying
   * must not land in a buffer its caller may reuse after a failure.
   */
  private async getInParts(grant: Uint8Array, position: number, local: Uint8Array): Promise<void> {
    const partBytes = Math.ceil(local.length / Math.min(CMA_PARTS_MAX, Math.floor(local.length / CMA_PART_BYTES_MIN)));
    const parts: Promise<void>[] = [];
    for (let at = 0; at < local.length; at += partBytes) {
      const part = local.subarray(at, at + partBytes);
      parts.push(this.request({ op: DataOp.GET_CMA, grant, position: position + at, lengthBytes: part.length, local: null, copied: part, clientAddress: bufferAddress(part) }));
    }
    const failed = (await Promise.allSettled(parts)).find((p): p is PromiseRejectedResult => p.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Whether puts and gets (up to IN_PROCESS_BYTES_MAX) are served by a direct call into a node of this process (no request on the socket). */
  get readsInProcess(): boolean {
    return this.inProcess !== undefined;
  }

  /** The node checks the grant and copies on this thread (`copy`); a refusal rejects as on the socket. */
  private inProcessCall(copy: () => void): Promise<void> {
    if (this.lostReason !== undefined) return Promise.reject(new Error(this.lostReason));
    try {
      copy();
      return Promise.resolve();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      return Promise.reject(new DataRefusedError(typeof code === 'string' ? code : 'INTERNAL', (err as Error).message));
    }
  }

  /** Puts are complete at the node when they resolve; nothing is left to flush. */
  async flush(): Promise<void> {
    if (this.lostReason !== undefined) throw new Error(this.lostReason);
  }

  close(): Promise<void> {
    this.lost('closed locally', false);
    return Promise.resolve();
  }

  /** The node's Unix socket as a link of its own, when it is on this host; undefined otherwise. */
  private async localLink(options: DataLinkOptions): Promise<DataLink | undefined> {
    const door = decodeLocalDoor(await this.ask(DataOp.LOCAL_DOOR));
    if (door.socketPath === '') return undefined;
    let socket: net.Socket;
    try {
      socket = await openSocket({ path: door.socketPath }, door.socketPath, LOCAL_CONNECT_TIMEOUT_MS);
    } catch {
      return undefined; // another host's node, or this user may not enter its directory
    }
    const local = new DataLink(socket, this.remoteAddress, true);
    try {
      // The same path on this host may belong to another node: only the token proves it is this one.
      if (!decodeLocalDoor(await local.ask(DataOp.LOCAL_DOOR)).token.equals(door.token)) throw new Error('another node');
    } catch {
      await local.close();
      return undefined;
    }
    // The node serves in this very process: its token says so, and only its LOCAL_DOOR tells it.
    if (options.inProcess !== false) local.inProcess = openInProcessData(door.token);
    const refused = await local.startCopies(socket);
    if (refused) {
      local.note = `storage node at ${this.remoteAddress}: local link without CMA (bytes on ${door.socketPath}): ${refused}`;
      process.emitWarning(local.note);
    }
    return local;
  }

  /** Turns copies by address on when the node can reach this process; otherwise returns why not. */
  private async startCopies(socket: net.Socket): Promise<string | undefined> {
    const first = await this.probe();
    if (!first) return undefined;
    const storagePid = peerProcessPid((socket as unknown as { _handle: { fd: number } })._handle.fd);
    const scope = yamaPtraceScope();
    if (scope !== 1) return first;
    if (ptracerPid !== 0 && ptracerPid !== storagePid) return `${first} (Yama lets one process trace this one, and it is storage process ${ptracerPid})`;
    try {
      allowPtracer(storagePid);
      ptracerPid = storagePid;
    } catch (err) {
      return `${first}; prctl(PR_SET_PTRACER, ${storagePid}) failed: ${(err as Error).message}`;
    }
    return (await this.probe()) ?? undefined;
  }

  /** Asks the node to copy a few bytes from this process; undefined when that worked, else the refusal. */
  private async probe(): Promise<string | undefined> {
    const mark = randomBytes(CMA_PROBE_BYTES);
    const source = Buffer.allocUnsafeSlow(CMA_PROBE_BYTES);
    mark.copy(source);
    try {
      const echoed = await this.ask(DataOp.CMA_PROBE, source);
      if (!echoed.equals(mark)) return 'the node read other bytes than this process holds';
    } catch (err) {
      return (err as Error).message;
    }
    this.copiesByAddress = true;
    return undefined;
  }

  /** A request whose answer is a body of its own (LOCAL_DOOR; CMA_PROBE names `source`). */
  private ask(op: DataOpCode, source?: Uint8Array): Promise<Buffer> {
    let body: Buffer = Buffer.alloc(0);
    const clientAddress = source ? bufferAddress(source) : undefined;
    return this.request({ op, grant: Buffer.alloc(0), position: 0, lengthBytes: source?.length ?? 0, local: null, copied: source, clientAddress, reply: (b) => (body = b) }).then(() => body);
  }

  private request(r: {
    op: DataOpCode;
    grant: Uint8Array;
    position: number;
    lengthBytes: number;
    local: Uint8Array | null;
    copied?: Uint8Array;
    clientAddress?: bigint;
    payload?: Uint8Array;
    reply?: (body: Buffer) => void;
  }): Promise<void> {
    if (this.lostReason !== undefined) return Promise.reject(new Error(this.lostReason));
    const reqId = this.nextReqId;
    this.nextReqId = this.nextReqId >= 0xffffffff ? 1 : this.nextReqId + 1;
    return new Promise<void>((resolve, reject) => {
      this.inFlight.push({ reqId, local: r.local, copied: r.copied, reply: r.reply, resolve, reject });
      const request = encodeDataRequest(r.op, reqId, r.grant, r.position, r.lengthBytes, r.clientAddress);
      if (r.payload && r.payload.length > 0) {
        // Header and payload in one writev.
        this.socket.cork();
        this.socket.write(request);
        this.socket.write(r.payload);
        this.socket.uncork();
      } else {
        this.socket.write(request);
      }
      noteLoopActivity(false);
    });
  }

  private receive(chunk: Buffer): void {
    noteLoopActivity(true);
    this.queue.push(chunk);
    try {
      while (this.step());
    } catch (err) {
      this.lost(`unreadable answer from storage node at ${this.remoteAddress}: ${(err as Error).message}`, false);
      // Nothing more from this node can be matched to a request.
      this.socket.removeAllListeners('data');
    }
  }

  private step(): boolean {
    if (!this.response) {
      if (this.queue.available < DATA_RESPONSE_HEADER_BYTES) return false;
      this.response = decodeDataResponseHeader(this.queue.take(DATA_RESPONSE_HEADER_BYTES));
      this.bodyReceived = 0;
      const head = this.inFlight[0];
      if (!head || head.reqId !== this.response.reqId) throw new Error(`answer to request ${this.response.reqId} was not expected`);
      if (this.response.failed || head.reply) this.answerBody = Buffer.alloc(this.response.bodyBytes);
      else if (this.response.bodyBytes !== (head.local?.length ?? 0)) throw new Error(`answer of ${this.response.bodyBytes} bytes to a request for ${head.local?.length ?? 0}`);
    }
    const r = this.response;
    const head = this.inFlight[0];
    const target = r.failed || head.reply ? this.answerBody! : head.local;
    this.bodyReceived += this.queue.moveInto(target, this.bodyReceived, r.bodyBytes - this.bodyReceived);
    if (this.bodyReceived < r.bodyBytes) return false;
    this.inFlight.shift();
    this.response = undefined;
    const body = this.answerBody;
    this.answerBody = undefined;
    if (r.failed) {
      const code = body!.subarray(0, r.codeBytes).toString();
      // The kernel stopped letting the node reach this process: carry bytes from now on.
      if (code === 'COPY_DENIED') this.copiesByAddress = false;
      head.reject(new DataRefusedError(code, body!.subarray(r.codeBytes).toString()));
    } else {
      if (head.reply) head.reply(body!);
      head.resolve();
    }
    return true;
  }

  /**
   * The link is over (`closedByNode`: its socket closed). A link this side
   * gives up on while the node may still copy into or out of its buffers is
   * half-closed: its requests settle when the node answers or closes.
   */
  private lost(reason: string, closedByNode: boolean): void {
    if (closedByNode || !this.inFlight.some((op) => op.copied)) {
      this.socket.destroy();
      for (const op of this.inFlight.splice(0)) op.reject(new Error(this.lostReason ?? reason));
    } else {
      this.socket.end();
    }
    if (this.lostReason !== undefined) return;
    this.lostReason = reason;
    this.emit('close', reason);
  }
}

function openSocket(to: net.NetConnectOpts, what: string, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(to);
    const timer = setTimeout(() => socket.destroy(new Error(`connect to ${what} timed out after ${timeoutMs} ms`)), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Yama's ptrace_scope (0 classic, 1 restricted to descendants and PR_SET_PTRACER, 2 admin, 3 none); 0 without Yama. */
function yamaPtraceScope(): number {
  try {
    return Number(fs.readFileSync(YAMA_PTRACE_SCOPE, 'utf8').trim());
  } catch {
    return 0;
  }
}
