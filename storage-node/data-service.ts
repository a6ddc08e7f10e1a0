// The storage node's checked data path (format/storage-data-wire.ts): clients
// put and get segment bytes over TCP, and the node checks each request's grant
// (StorageNode.writableRange / readableRange) before a byte lands in or leaves
// the region. A put's payload is copied from the socket straight into the
// granted range of the region; a get is answered from a view of the region.
// A refused request is answered with its error and the connection goes on; a
// frame that cannot be read closes that connection, never the process.
//
// Clients on this host may connect to a Unix socket instead (mode 0600 in a
// 0700 directory: this user only, as CMA needs anyway). There a put or get may
// name the client's own buffer: after the same grant check, the node copies
// between the granted range and that buffer with CMA (addon PeerProcess), in
// the process the kernel says connected, so the client never touches the
// node's memory and cannot aim the copy at any other process. Small copies
// run on the JS thread, like every check and every fence (skip marker, seal,
// free, commit). Large ones run on libuv's pool: the node tracks each put until
// its last byte moved, and every fence over its range waits for it first
// (StorageNode.writeOffThread), so no byte of a put lands after a fence.
//
// Contract: single-threaded (JS); requests on one connection are served in order.
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { acceptedSocketFd, noteLoopActivity, PeerProcess } from '../addon';
import { ChunkQueue } from '../format/chunk-queue';
import {
  CMA_PROBE_BYTES,
  DATA_CLIENT_ADDRESS_BYTES,
  DATA_REQUEST_HEADER_BYTES,
  DataOp,
  DataRequestHeader,
  decodeDataRequestHeader,
  encodeDataError,
  encodeDataResponse,
  encodeLocalDoor,
  LOCAL_DOOR_TOKEN_BYTES,
  namesClientAddress,
} from '../format/storage-data-wire';
import { offerInProcessData } from '../format/in-process-data';
import { CopyCrcs } from './copy-crcs';
import { GRANT_BYTES } from './grant';
import { listenPrivately, UNIX_PATH_BYTES_MAX } from './private-socket';
import { StorageError } from './storage-error';
import type { StorageNode } from './storage-node';

export interface DataService {
  port: number;
  /** The Unix socket clients on this host may use, or undefined when there is none (`localNote` says why). */
  localSocketPath: string | undefined;
  localNote: string;
  /** Requests refused so far, connections closed for unreadable frames, puts and gets copied with CMA, and gets and puts of clients in this process. */
  stats(): { refused: number; badFrames: number; connections: number; peerCopies: number; inProcessReads: number; inProcessPuts: number };
  close(): Promise<void>;
}

/** Puts and gets at least this large are copied on libuv's thread pool (this thread serves the next request meanwhile). */
const POOL_COPY_BYTES_MIN = 256 * 1024;
/** How long a fence sleeps between looks at a copy it waits for (the pool thread cannot wake it). */
const LANDED_POLL_MS = 0.02;

/**
 * Waits for a put copying on the pool: its flag (shared memory) is cleared by
 * the pool thread when the last byte moved, so a fence on this thread can
 * wait for the bytes while the copy's promise callbacks queue behind it.
 */
function waitLanded(landed: Int32Array): void {
  while (Atomics.load(landed, 0) !== 0) Atomics.wait(landed, 0, 1, LANDED_POLL_MS);
}

/** Answers this small, held together, leave as one concatenated write (a writev costs more than the copy). */
const CONCAT_ANSWER_BYTES_MAX = 16 * 1024;

/**
 * A connection's answers, written in request order although a copy on the
 * pool finishes later than the requests after it. Between hold() and
 * flush() (one read's requests) they are gathered and leave in one write.
 */
class OrderedAnswers {
  private readonly waiting: Array<{ parts: Buffer[] | undefined }> = [];
  private copying = 0;
  private readonly idle: Array<() => void> = [];
  private held: Buffer[] | undefined;

  constructor(private readonly socket: net.Socket) {}

  hold(): void {
    this.held ??= [];
  }

  /** Writes what was held since hold(). */
  flush(): void {
    const parts = this.held;
    this.held = undefined;
    if (!parts || parts.length === 0 || this.socket.destroyed) return;
    if (parts.length === 1) {
      this.socket.write(parts[0]);
      return;
    }
    let bytes = 0;
    for (const p of parts) bytes += p.length;
    if (bytes <= CONCAT_ANSWER_BYTES_MAX) {
      this.socket.write(Buffer.concat(parts, bytes));
      return;
    }
    this.socket.cork();
    for (const p of parts) this.socket.write(p);
    this.socket.uncork();
  }

  send(...parts: Buffer[]): void {
    if (this.waiting.length > 0) this.waiting.push({ parts });
    else if (this.held) this.held.push(...parts);
    else for (const p of parts) this.socket.write(p);
  }

  /** A place for an answer that comes later; call the function it returns once, with that answer. */
  later(): (...parts: Buffer[]) => void {
    const slot: { parts: Buffer[] | undefined } = { parts: undefined };
    this.waiting.push(slot);
    this.copying++;
    return (...parts) => {
      slot.parts = parts;
      this.copying--;
      this.hold();
      while (this.waiting.length > 0 && this.waiting[0].parts) this.held!.push(...this.waiting.shift()!.parts!);
      this.flush();
      if (this.copying === 0) for (const then of this.idle.splice(0)) then();
    };
  }

  /** Runs `then` once no copy is under way. */
  whenIdle(then: () => void): void {
    if (this.copying === 0) then();
    else this.idle.push(then);
  }
}

interface PendingPut {
  header: DataRequestHeader;
  grant: Buffer;
  /** Where the payload goes, or null when the put was refused (its payload is read and dropped). */
  target: Buffer | null;
  refusal?: Buffer;
  received: number;
}

/**
 * Serves the data path on `host:port` and, when `localDir` is given, on a
 * Unix socket in that directory (created 0700) for clients on this host.
 */
export async function startDataService(node: StorageNode, host: string, port: number, log: (message: string) => void = () => undefined, localDir?: string): Promise<DataService> {
  const lengthMax = node.store.maxDataCapacityBytes;
  const sockets = new Set<net.Socket>();
  const idleWaiters = new Map<net.Socket, (then: () => void) => void>();
  const token = randomBytes(LOCAL_DOOR_TOKEN_BYTES);
  let localSocketPath: string | undefined;
  let refused = 0;
  let badFrames = 0;
  let peerCopies = 0;
  let inProcessReads = 0;
  let inProcessPuts = 0;

  const serve = (socket: net.Socket, peer?: PeerProcess) => {
    sockets.add(socket);
    if (!peer) socket.setNoDelay(true);
    socket.once('close', () => {
      sockets.delete(socket);
      idleWaiters.delete(socket);
      peer?.close();
    });
    socket.on('error', () => undefined);
    const where = peer ? `process ${peer.pid} (uid ${peer.uid}) on ${localSocketPath}` : `${socket.remoteAddress}:${socket.remotePort}`;
    const queue = new ChunkQueue();
    const answers = new OrderedAnswers(socket);
    // Grants this connection presented and the node verified (their HMAC is not computed again).
    const verified = node.verifiedGrants();
    let header: DataRequestHeader | undefined;
    let put: PendingPut | undefined;

    const fail = (reqId: number, err: unknown): Buffer => {
      refused++;
      if (err instanceof StorageError) return encodeDataError(reqId, err.code, err.message);
      const code = (err as { code?: unknown }).code;
      if (code === 'ERR_COPY_DENIED') return encodeDataError(reqId, 'COPY_DENIED', (err as Error).message);
      if (typeof code === 'string' && code.startsWith('ERR_')) return encodeDataError(reqId, 'COPY_FAILED', (err as Error).message);
      return encodeDataError(reqId, 'INTERNAL', (err as Error).message);
    };

    /** The process that connected (the kernel's word), or a refusal: CMA exists only on the Unix socket. */
    const connectedPeer = (): PeerProcess => {
      if (!peer) throw new StorageError('INVALID_ARGUMENT', 'copies by address are served only on the Unix socket, to the process that connected it');
      return peer;
    };

    const answer = (reqId: number, body: Buffer): void => answers.send(encodeDataResponse(reqId, body.length), body);

    /** One put or get served, counted by the door it came through. */
    const served = (op: 'puts' | 'gets'): void => {
      node.served[op]++;
      if (peer) node.servedOnUnixSocket[op]++;
    };

    /**
     * A large get copied on the thread pool, answered in its turn. The copy
     * only reads the region; if the segment was freed meanwhile (its memory
     * may hold another segment's bytes now) the get is refused after all.
     */
    const getOnPool = (from: PeerProcess, h: DataRequestHeader, grant: Buffer, source: Buffer, clientAddress: bigint): void => {
      const done = answers.later();
      from.writeFromAsync(source, clientAddress).then(
        () => {
          try {
            node.readableRange(grant, h.position, h.lengthBytes, verified);
            peerCopies++;
            served('gets');
            done(encodeDataResponse(h.reqId, 0));
          } catch (err) {
            done(fail(h.reqId, err));
          }
        },
        (err: unknown) => done(fail(h.reqId, err)),
      );
    };

    /**
     * A large put copied on the thread pool, answered in its turn. The node
     * tracks it until its bytes landed: a fence over its range waits for it
     * (StorageNode.writeOffThread), so no byte lands after a fence.
     */
    const putOnPool = (from: PeerProcess, h: DataRequestHeader, grant: Buffer, clientAddress: bigint): void => {
      const landed = new Int32Array(new SharedArrayBuffer(4));
      // The copying threads also take the CRCs of the blocks they copied, for the check before the commit.
      const { firstBlockOffset, count } = CopyCrcs.blocksOfPut(h.position, h.lengthBytes);
      const blockCrcs = node.copyCrcs && count > 0 ? new Uint32Array(count) : undefined;
      const copying = node.writeOffThread(grant, h.position, h.lengthBytes, verified, (target) => ({
        copy: { waitLanded: () => waitLanded(landed) },
        settled: from.readIntoAsync(target, clientAddress, landed, 0, blockCrcs && { crcs: blockCrcs, firstBlockOffset }),
        blockCrcs,
      }));
      const done = answers.later();
      copying.then(
        () => {
          peerCopies++;
          served('puts');
          done(encodeDataResponse(h.reqId, 0));
        },
        (err: unknown) => done(fail(h.reqId, err)),
      );
    };

    /** Serves a request that names a client buffer (the grant checked first, then the copy). */
    const copyByAddress = (h: DataRequestHeader, grant: Buffer, clientAddress: bigint): void => {
      try {
        if (h.op === DataOp.CMA_PROBE) {
          const probe = Buffer.alloc(CMA_PROBE_BYTES);
          connectedPeer().readInto(probe, clientAddress);
          answer(h.reqId, probe);
          return;
        }
        const from = connectedPeer();
        if (h.op === DataOp.PUT_CMA) {
          if (h.lengthBytes >= POOL_COPY_BYTES_MIN) return putOnPool(from, h, grant, clientAddress);
          // On this thread, between no two fences: nothing can close the range between the check and the bytes.
          from.readInto(node.writableRange(grant, h.position, h.lengthBytes, verified), clientAddress);
        } else {
          const source = node.readableRange(grant, h.position, h.lengthBytes, verified);
          if (source.length >= POOL_COPY_BYTES_MIN) return getOnPool(from, h, grant, source, clientAddress);
          from.writeFrom(source, clientAddress);
        }
        peerCopies++;
        served(h.op === DataOp.PUT_CMA ? 'puts' : 'gets');
        answers.send(encodeDataResponse(h.reqId, 0));
      } catch (err) {
        answers.send(fail(h.reqId, err));
        if ((err as { code?: unknown }).code === 'ERR_PEER_GONE') throw new Error(`its process is gone: ${(err as Error).message}`);
      }
    };

    const step = (): boolean => {
      if (put) {
        const want = put.header.lengthBytes - put.received;
        if (put.target && queue.available > 0) {
          // The payload arrives over several events, and a fence (skip marker, seal, free) may land between them:
          // checked again before each part, so no byte lands after one.
          try {
            node.writableRange(put.grant, put.header.position, put.header.lengthBytes, verified);
          } catch (err) {
            put.target = null;
            put.refusal = fail(put.header.reqId, err);
          }
        }
        put.received += queue.moveInto(put.target, put.received, want);
        if (put.received < put.header.lengthBytes) return false;
        if (!put.refusal) served('puts');
        answers.send(put.refusal ?? encodeDataResponse(put.header.reqId, 0));
        put = undefined;
        return true;
      }
      if (!header) {
        if (queue.available < DATA_REQUEST_HEADER_BYTES) return false;
        try {
          header = decodeDataRequestHeader(queue.take(DATA_REQUEST_HEADER_BYTES));
        } catch (err) {
          throw new Error(`unreadable request header: ${(err as Error).message}`);
        }
        if (header.lengthBytes > lengthMax) throw new Error(`request for ${header.lengthBytes} bytes exceeds the largest segment (${lengthMax} bytes)`);
      }
      const trailerBytes = namesClientAddress(header.op) ? DATA_CLIENT_ADDRESS_BYTES : 0;
      if (queue.available < header.grantBytes + trailerBytes) return false;
      const h = header;
      header = undefined;
      // A verbs key carries the grant first and the segment's UCX key after it.
      const grant = queue.take(h.grantBytes).subarray(0, GRANT_BYTES);
      if (trailerBytes > 0) {
        copyByAddress(h, grant, queue.take(trailerBytes).readBigUInt64LE(0));
        return true;
      }
      if (h.op === DataOp.LOCAL_DOOR) {
        answer(h.reqId, encodeLocalDoor(token, localSocketPath ?? ''));
        return true;
      }
      if (h.op === DataOp.PUT) {
        try {
          put = { header: h, grant, target: node.writableRange(grant, h.position, h.lengthBytes, verified), received: 0 };
        } catch (err) {
          put = { header: h, grant, target: null, refusal: fail(h.reqId, err), received: 0 };
        }
        return true;
      }
      try {
        const bytes = node.readableRange(grant, h.position, h.lengthBytes, verified);
        // Copied: the region's bytes may change (a late writer's range, a freed segment reused) before the socket sends them.
        answers.send(encodeDataResponse(h.reqId, bytes.length), Buffer.from(bytes));
        served('gets');
      } catch (err) {
        answers.send(fail(h.reqId, err));
      }
      return true;
    };

    socket.on('data', (chunk: Buffer) => {
      noteLoopActivity(true);
      queue.push(chunk);
      // The answers to every request in this chunk leave in one write.
      answers.hold();
      try {
        while (step());
        answers.flush();
      } catch (err) {
        // The answers to the requests before the bad frame still leave.
        answers.flush();
        badFrames++;
        log(`storage data connection from ${where} closed: ${(err as Error).message}`);
        socket.removeAllListeners('data');
        answers.whenIdle(() => socket.destroy());
      }
    });
    // The client's buffers are in use until its copies are answered: end (or close) only after them.
    socket.once('end', () => answers.whenIdle(() => socket.end()));
    idleWaiters.set(socket, (then) => answers.whenIdle(then));
  };

  const server = net.createServer((socket) => serve(socket));
  const bound = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });

  const servePeer = (socket: net.Socket) => {
    let peer: PeerProcess | undefined;
    try {
      peer = new PeerProcess(acceptedSocketFd(socket));
    } catch (err) {
      // Still served, with bytes on the socket: only copies by address need the peer's name.
      log(`local data connection without CMA: ${(err as Error).message}`);
    }
    serve(socket, peer);
  };
  let local: net.Server | undefined;
  let localNote = 'no Unix socket for local clients (none asked for)';
  if (localDir) {
    const opened = await listenLocal(localDir, servePeer);
    local = opened.server;
    localSocketPath = opened.socketPath;
    localNote = opened.note;
  }
  // Clients in this process put and get with a direct call: the same check, one copy on this thread, no request on the socket.
  let servingInProcess = localSocketPath !== undefined;
  const withdrawInProcess = servingInProcess
    ? offerInProcessData(token, () => {
        const verified = node.verifiedGrants();
        /** What the node does for a client's grant, or its refusal (counted as the socket counts them). */
        const checked = <T>(access: () => T): T => {
          if (!servingInProcess) throw new StorageError('CLOSED', 'the storage node is closing');
          try {
            return access();
          } catch (err) {
            refused++;
            throw err;
          }
        };
        const grantOf = (grant: Uint8Array): Buffer => Buffer.from(grant.buffer, grant.byteOffset, Math.min(grant.length, GRANT_BYTES));
        return {
          get: (grant, position, into) => {
            into.set(checked(() => node.readableRange(grantOf(grant), position, into.length, verified)));
            inProcessReads++;
          },
          put: (grant, position, from) => {
            checked(() => node.writeHere(grantOf(grant), position, from, verified));
            inProcessPuts++;
          },
        };
      })
    : () => undefined;
  const closeServer = (s: net.Server) => new Promise<void>((resolve) => s.close(() => resolve()));
  return {
    port: bound,
    localSocketPath,
    localNote,
    stats: () => ({ refused, badFrames, connections: sockets.size, peerCopies, inProcessReads, inProcessPuts }),
    close: async () => {
      servingInProcess = false;
      withdrawInProcess();
      // Copies on the pool still read the region and write into clients: the region is unmapped only after them.
      await Promise.all([...sockets].map((s) => new Promise<void>((resolve) => (idleWaiters.get(s) ?? ((then) => then()))(() => (s.destroy(), resolve())))));
      await Promise.all([closeServer(server), local ? closeServer(local) : undefined]);
    },
  };
}

/**
 * Listens on `<dir>/data.sock`, in a directory only this user may enter (the
 * socket's own mode is not checked by every kernel before connect). A stale
 * socket of an earlier run is replaced: the caller owns the data directory.
 */
async function listenLocal(dir: string, serve: (socket: net.Socket) => void): Promise<{ server?: net.Server; socketPath?: string; note: string }> {
  const socketPath = path.join(dir, 'data.sock');
  if (Buffer.byteLength(socketPath) > UNIX_PATH_BYTES_MAX) {
    return { note: `no Unix socket for local clients: ${socketPath} is longer than ${UNIX_PATH_BYTES_MAX} bytes (local clients use TCP)` };
  }
  // Half-open: a client's end() must not end this side while copies into it are under way.
  const server = net.createServer({ allowHalfOpen: true }, serve);
  await listenPrivately(server, dir, socketPath);
  return { server, socketPath, note: `local clients (this user) copy with CMA through ${socketPath}` };
}
