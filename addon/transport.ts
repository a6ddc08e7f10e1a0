import { EventEmitter } from 'events';
import * as net from 'net';
import * as os from 'os';
import { AddonError, nativeAsync, nativeCall } from './errors';
import { native, NativeEndpoint, NativeMemoryRegistration, NativeRemoteKey, NativeTransport } from './native';
import { Region } from './region';

export type Access = 'read' | 'read-write';

/** Active-message ids available to users are 0..MAX_MESSAGE_ID. */
export const MAX_MESSAGE_ID = 255;

export interface TransportOptions {
  /** Largest active-message payload accepted or sent (default 16 MiB). */
  maxAmPayloadBytes?: number;
  /**
   * Ask UCX to detect peer failure itself (default false). UCX 1.13's
   * shared-memory transports cannot, so rdmq detects it with the bootstrap
   * socket instead, which works on every transport.
   */
  peerErrorHandling?: boolean;
  /** Milliseconds a connect may take, including UCX wire-up (default 10 s). */
  connectTimeoutMs?: number;
  /**
   * Microseconds after the last message or operation during which the worker
   * is polled on every turn of the event loop instead of sleeping on its event
   * fd: an answer that comes within it is seen without a wake-up, at the cost
   * of that much busy time after each burst (default RDMQ_POLL_WINDOW_US, else
   * POLL_WINDOW_US_DEFAULT; 0 never polls).
   */
  pollWindowUs?: number;
}

/**
 * The poll window when neither the option nor RDMQ_POLL_WINDOW_US says
 * otherwise: long enough to span a publish's round trips on one host (a
 * put, then a commit), so neither end sleeps between them.
 */
export const POLL_WINDOW_US_DEFAULT = 200;

/** Open transports of this process, which traffic on its other doors keeps polling (noteLoopActivity). */
const openTransports = new Set<Transport>();

/**
 * Traffic on a door of this process that is not UCX (a storage node's data
 * or commit socket, a client's link to it): a request or answer went out, or
 * (`arrival`) one came in. Every open transport counts it as it counts its
 * own messages, so a process that polls after activity also sees the answer
 * on that door without sleeping on it.
 */
export function noteLoopActivity(arrival: boolean): void {
  for (const t of openTransports) t.noteActivity(arrival);
}

function pollWindowUs(option: number | undefined): number {
  const fromEnv = process.env.RDMQ_POLL_WINDOW_US;
  const value = option ?? (fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) : POLL_WINDOW_US_DEFAULT);
  if (!Number.isFinite(value) || value < 0 || value > 1_000_000) {
    throw new AddonError('ERR_INVALID_ARG', `the poll window must be 0..1000000 microseconds, got ${option ?? fromEnv}`);
  }
  return value;
}

export type MessageHandler = (endpoint: Endpoint, header: Buffer, payload: Buffer) => void;

/** A range of a Region registered with UCX; its packed key lets a peer reach it. */
export class MemoryRegistration {
  constructor(
    private readonly native: NativeMemoryRegistration,
    readonly lengthBytes: number,
    readonly access: Access,
  ) {}

  /** Opaque bytes to hand to the peer that may access this range. */
  packedKey(): Buffer {
    return nativeCall(() => this.native.packedKey());
  }

  deregister(): void {
    nativeCall(() => this.native.deregister());
  }
}

/** A peer's registered range, imported on one endpoint. Offsets are relative to the range. */
export class RemoteKey {
  constructor(readonly native: NativeRemoteKey) {}

  get lengthBytes(): number {
    return this.native.length;
  }

  destroy(): void {
    nativeCall(() => this.native.destroy());
  }
}

// Bootstrap frames on the side socket: [u32 length][u8 version][u32 connection id]
// [u32 largest active-message payload this side accepts][worker address]. Each
// side learns the other's limit, so a message the peer would drop (UCX gives
// the receiver no way to answer it) is refused at once by the sender instead.
const BOOTSTRAP_VERSION = 2;
const BOOTSTRAP_HEADER_BYTES = 13;
const AM_PAYLOAD_BYTES_DEFAULT = 16 * 1024 * 1024;
const MAX_BOOTSTRAP_FRAME_BYTES = 64 * 1024;
// Every active message starts with the receiver's id for the connection, so
// the receiver knows which endpoint it came from on every transport.
const AM_ROUTE_BYTES = 4;
// UCX carries an active message's header inside its first fragment (8 KiB on
// shared memory, less elsewhere) and aborts the process when a rendezvous
// header does not fit. Longer headers travel in front of the payload instead,
// marked by the top bit of the route id.
const AM_HEADER_INLINE_MAX = 1024;
const SPILLED = 0x80000000;
const ROUTE_ID_MAX = 0x7fffffff;

/** Hands one message to the peer of an in-process endpoint (header and payload are the sender's: copy before keeping). */
type InProcessDelivery = (id: number, header: Uint8Array, payload: Uint8Array) => void;

/**
 * A connection to one peer: a UCX endpoint for data plus the bootstrap socket
 * that set it up and now tells when the peer goes away.
 * put/get are one-sided, each returns a Promise settled when UCX reports the
 * operation complete locally; `flush` resolves once every earlier operation on
 * this endpoint is complete at the peer.
 *
 * An in-process endpoint (Transport.connect with `inProcess`, the peer a
 * Transport of this process) has neither: its messages are handed to the
 * peer's handlers on a later turn of the event loop, in order, as copies, and
 * the two ends close together. It carries messages only (no put, get or keys).
 *
 * Events: 'close' (reason: string) once, when closed locally or the peer is gone.
 */
export class Endpoint extends EventEmitter {
  private closing: Promise<void> | undefined;
  private lostReason: string | undefined;
  /** In-process endpoints: the other end, and how a message reaches its transport's handlers. */
  private inProcessPeer: { endpoint: Endpoint; deliver: InProcessDelivery } | undefined;

  constructor(
    readonly native: NativeEndpoint | undefined,
    private readonly socket: net.Socket | undefined,
    /** Our id for this connection; the peer stamps it on messages to us. */
    readonly localId: number,
    /** The peer's id for this connection; we stamp it on messages to the peer. */
    readonly remoteId: number,
    readonly remoteAddress: string,
    /** The largest active-message payload the peer accepts (it drops larger ones unanswered). */
    readonly peerMaxAmPayloadBytes: number,
  ) {
    super();
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Whether the peer is a Transport of this process, reached without UCX. */
  get inProcess(): boolean {
    return this.native === undefined;
  }

  put(local: Uint8Array, key: RemoteKey, remoteOffset: number): Promise<void> {
    return nativeAsync(() => this.usableUcx('put').put(local, key.native, remoteOffset));
  }

  get(local: Uint8Array, key: RemoteKey, remoteOffset: number): Promise<void> {
    return nativeAsync(() => this.usableUcx('get').get(local, key.native, remoteOffset));
  }

  flush(): Promise<void> {
    if (this.inProcessPeer !== undefined) {
      return nativeAsync(() => {
        this.usable();
        // Messages are delivered in the order of the immediates they queued: this one runs after all of them.
        return new Promise<void>((resolve) => setImmediate(resolve));
      });
    }
    return nativeAsync(() => this.usableUcx('flush').flush());
  }

  /** Sends a two-sided active message; the peer's handler for `id` receives it. */
  send(id: number, header: Uint8Array, payload: Uint8Array = EMPTY): Promise<void> {
    if (!Number.isInteger(id) || id < 0 || id > MAX_MESSAGE_ID) {
      return Promise.reject(new AddonError('ERR_INVALID_ARG', `message id must be an integer 0..${MAX_MESSAGE_ID}, got ${id}`));
    }
    const carriedBytes = payload.length + (header.length <= AM_HEADER_INLINE_MAX ? 0 : header.length);
    if (carriedBytes > this.peerMaxAmPayloadBytes) {
      return Promise.reject(
        new AddonError(
          'ERR_MESSAGE_TOO_LARGE',
          `active message ${id} of ${carriedBytes} bytes exceeds the limit of ${this.peerMaxAmPayloadBytes} bytes that ${this.remoteAddress} accepts`,
        ),
      );
    }
    if (this.inProcessPeer !== undefined) {
      const { deliver } = this.inProcessPeer;
      return nativeAsync(() => {
        this.usable();
        // Copies: the sender may reuse its buffers once the send resolves, as over UCX.
        const headerCopy = Buffer.from(header);
        const payloadCopy = Buffer.from(payload);
        setImmediate(() => deliver(id, headerCopy, payloadCopy));
        return Promise.resolve();
      });
    }
    if (header.length <= AM_HEADER_INLINE_MAX) {
      const routed = Buffer.allocUnsafe(AM_ROUTE_BYTES + header.length);
      routed.writeUInt32LE(this.remoteId, 0);
      routed.set(header, AM_ROUTE_BYTES);
      return nativeAsync(() => this.usableUcx('send').sendAm(id, routed, payload));
    }
    const routed = Buffer.allocUnsafe(AM_ROUTE_BYTES + 4);
    routed.writeUInt32LE((this.remoteId | SPILLED) >>> 0, 0);
    routed.writeUInt32LE(header.length, 4);
    const carried = Buffer.concat([header, payload]);
    return nativeAsync(() => this.usableUcx('send').sendAm(id, routed, carried));
  }

  importKey(packed: Uint8Array): RemoteKey {
    return new RemoteKey(nativeCall(() => this.usableUcx('importKey').importKey(packed)));
  }

  /** UCX's description of this endpoint's lanes: it names the transports in use. */
  describe(): string {
    if (this.inProcessPeer !== undefined) return 'in-process: messages handed to a transport of this process, no UCX';
    return nativeCall(() => this.usableUcx('describe').describe());
  }

  /** Closes the endpoint; resolves when UCX has released it. Idempotent. */
  close(): Promise<void> {
    if (this.closing === undefined) {
      const force = this.lostReason !== undefined;
      const native = this.native;
      this.closing = native === undefined ? Promise.resolve() : nativeAsync(() => native.close(force)).catch(() => undefined);
      this.socket?.destroy();
      this.emit('close', this.lostReason ?? 'closed locally');
      this.inProcessPeer?.endpoint.lost(`the peer in this process closed its end (${this.lostReason ?? 'closed'})`);
    }
    return this.closing;
  }

  /** Makes this an in-process endpoint whose messages `deliver` hands to `peer`'s transport. */
  pairInProcess(peer: Endpoint, deliver: InProcessDelivery): void {
    this.inProcessPeer = { endpoint: peer, deliver };
  }

  /** The peer is gone: outstanding operations are cancelled. */
  lost(reason: string): void {
    if (this.closing !== undefined) return;
    this.lostReason = reason;
    void this.close();
  }

  private usable(): void {
    if (this.closing !== undefined) {
      throw new AddonError(this.lostReason ? 'ERR_PEER_UNREACHABLE' : 'ERR_ENDPOINT_CLOSED',
        this.lostReason ? `endpoint to ${this.remoteAddress} is gone: ${this.lostReason}` : `endpoint to ${this.remoteAddress} is closed`);
    }
  }

  private usableUcx(operation: string): NativeEndpoint {
    this.usable();
    if (this.native === undefined) throw new AddonError('ERR_INVALID_ARG', `${operation} needs UCX; the endpoint to ${this.remoteAddress} is in-process and carries messages only`);
    return this.native;
  }
}

const EMPTY = new Uint8Array(0);

/** Transports of this process listening, by bound port, with the host they bound: in-process connects find them here. */
const listeningHere = new Map<number, { transport: Transport; host: string }>();

/**
 * The transport of this process that a connect to host:port would reach: one
 * listening on that port whose bound host is `host` itself, or a wildcard
 * when `host` is an address of this machine (loopback or an interface's).
 * A host name other than localhost is not resolved: such connects use UCX.
 */
function listenerHere(host: string, port: number): Transport | undefined {
  const listener = listeningHere.get(port);
  if (listener === undefined) return undefined;
  const bare = (h: string): string => h.replace(/^\[|\]$/g, '');
  if (bare(host) === bare(listener.host)) return listener.transport;
  const wildcard = ['', '0.0.0.0', '::'].includes(bare(listener.host));
  return wildcard && isAddressOfThisMachine(bare(host)) ? listener.transport : undefined;
}

function isAddressOfThisMachine(host: string): boolean {
  if (host === 'localhost' || host === '::1' || (net.isIPv4(host) && host.startsWith('127.'))) return true;
  return Object.values(os.networkInterfaces()).some((addresses) => addresses?.some((a) => a.address === host));
}

/**
 * One UCX context and worker per Transport (one per process in practice).
 * Connections are set up over a small TCP bootstrap socket (exchange of UCX
 * worker addresses) that then stays open as the liveness signal; all data
 * and messages go over UCX, which picks the transport (verbs, shared
 * memory/CMA, TCP). Progress is driven from the worker's event fd in libuv:
 * an idle transport costs no CPU.
 *
 * Events: 'connection' (endpoint) for accepted connections.
 */
export class Transport extends EventEmitter {
  private readonly native: NativeTransport;
  private readonly handlers = new Map<number, MessageHandler>();
  private readonly byLocalId = new Map<number, Endpoint>();
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | undefined;
  private nextLocalId = 1;
  private closedFlag = false;
  private readonly connectTimeoutMs: number;
  private readonly maxAmPayloadBytes: number;

  constructor(options: TransportOptions = {}) {
    super();
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.maxAmPayloadBytes = options.maxAmPayloadBytes ?? AM_PAYLOAD_BYTES_DEFAULT;
    if (!Number.isInteger(this.maxAmPayloadBytes) || this.maxAmPayloadBytes < 0 || this.maxAmPayloadBytes > 0xffffffff) {
      throw new AddonError('ERR_INVALID_ARG', `maxAmPayloadBytes must be an integer 0..${0xffffffff}, got ${this.maxAmPayloadBytes}`);
    }
    this.native = nativeCall(() =>
      new (native().Transport)({
        maxAmPayloadBytes: this.maxAmPayloadBytes,
        peerErrorHandling: options.peerErrorHandling ?? false,
        pollWindowUs: pollWindowUs(options.pollWindowUs),
      }),
    );
    this.native.setHandlers({
      am: (id, header, payload) => this.dispatch(id, header, payload),
      endpointError: (ep, message) => this.findByNative(ep)?.lost(message),
    });
    openTransports.add(this);
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Accepts connections on host:port (0 picks a free port); resolves to the bound port. */
  listen(host: string, port: number): Promise<number> {
    this.checkOpen();
    if (this.server !== undefined) return Promise.reject(new AddonError('ERR_ALREADY_LISTENING', 'transport is already listening'));
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        this.server = undefined;
        reject(new AddonError(err.code === 'EADDRINUSE' ? 'ERR_ADDRESS_IN_USE' : 'ERR_INVALID_ARG', `cannot listen on ${host}:${port}: ${err.message}`));
      });
      server.listen(port, host, () => {
        const bound = (server.address() as net.AddressInfo).port;
        listeningHere.set(bound, { transport: this, host });
        server.once('close', () => {
          if (listeningHere.get(bound)?.transport === this) listeningHere.delete(bound);
        });
        resolve(bound);
      });
    });
  }

  /**
   * Connects to a listening transport and waits until the UCX endpoint is
   * wired up. With `inProcess`, a transport of this process listening at
   * host:port is connected to directly instead (see Endpoint): no socket, no
   * UCX, the same messages and connection ids, so both ends' protocol is
   * unchanged; any other address is connected to as usual.
   */
  async connect(host: string, port: number, options: { inProcess?: boolean } = {}): Promise<Endpoint> {
    this.checkOpen();
    const here = options.inProcess === true ? listenerHere(host, port) : undefined;
    if (here !== undefined && !here.closed) return this.connectInProcess(here, `${host}:${port}`, host);
    const socket = net.connect({ host, port });
    this.track(socket);
    const where = `${host}:${port}`;
    try {
      await withTimeout(once(socket, 'connect'), this.connectTimeoutMs, `connect to ${where}`);
      const localId = this.allocateId();
      writeBootstrap(socket, localId, this.maxAmPayloadBytes, this.native.workerAddress());
      const reply = await withTimeout(readBootstrap(socket), this.connectTimeoutMs, `bootstrap with ${where}`);
      const ep = this.open(socket, localId, reply, where);
      await withTimeout(ep.flush(), this.connectTimeoutMs, `UCX wire-up with ${where}`);
      return ep;
    } catch (err) {
      socket.destroy();
      if (err instanceof AddonError) throw err;
      throw new AddonError('ERR_PEER_UNREACHABLE', `cannot connect to ${where}: ${(err as Error).message}`);
    }
  }

  private connectInProcess(server: Transport, where: string, host: string): Endpoint {
    const localId = this.allocateId();
    const remoteId = server.allocateId();
    const mine = new Endpoint(undefined, undefined, localId, remoteId, where, server.maxAmPayloadBytes);
    // The server sees the peer at the address it was dialled on, as a local TCP peer would appear; port 0: no socket.
    const theirs = new Endpoint(undefined, undefined, remoteId, localId, `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:0`, this.maxAmPayloadBytes);
    mine.pairInProcess(theirs, (id, header, payload) => server.deliverInProcess(id, theirs, header, payload));
    theirs.pairInProcess(mine, (id, header, payload) => this.deliverInProcess(id, mine, header, payload));
    this.adopt(localId, mine);
    server.adopt(remoteId, theirs);
    server.emit('connection', theirs);
    return mine;
  }

  private adopt(localId: number, ep: Endpoint): void {
    this.byLocalId.set(localId, ep);
    ep.once('close', () => this.byLocalId.delete(localId));
  }

  /** A message from an in-process peer, to `ep` (this side's end), unless that end closed meanwhile. */
  private deliverInProcess(id: number, ep: Endpoint, header: Uint8Array, payload: Uint8Array): void {
    if (ep.closed || this.closedFlag) return;
    const handler = this.handlers.get(id);
    if (handler === undefined) {
      this.emit('unhandledMessage', id, header.length, payload.length);
      return;
    }
    handler(ep, header as Buffer, payload as Buffer);
  }

  /** Registers [offset, offset+length) of a region for remote access. */
  register(region: Region, offset: number, lengthBytes: number, access: Access): MemoryRegistration {
    if (access !== 'read' && access !== 'read-write') {
      throw new AddonError('ERR_INVALID_ARG', `access must be 'read' or 'read-write', got ${String(access)}`);
    }
    const reg = nativeCall(() => this.native.registerMemory(region.native, offset, lengthBytes, access === 'read-write'));
    return new MemoryRegistration(reg, lengthBytes, access);
  }

  /** Sets the handler for active messages with this id (one handler per id). */
  onMessage(id: number, handler: MessageHandler): void {
    if (!Number.isInteger(id) || id < 0 || id > MAX_MESSAGE_ID) {
      throw new AddonError('ERR_INVALID_ARG', `message id must be an integer 0..${MAX_MESSAGE_ID}, got ${id}`);
    }
    this.handlers.set(id, handler);
  }

  /**
   * Native counters: operations in flight, open UCX endpoints, memory
   * registrations, the poll score (positive: messages have been coming back
   * within the poll window) and whether the worker is being polled now.
   */
  stats(): { outstandingOps: number; endpoints: number; registrations: number; pollScore: number; polling: boolean; connections: number } {
    return { ...this.native.stats(), connections: this.byLocalId.size };
  }

  /** UCX's description of this context's memory domains and transports (e.g. names an ib md where verbs is in use). */
  memoryDomains(): string {
    return nativeCall(() => this.native.memoryDomains());
  }

  /** See noteLoopActivity. */
  noteActivity(arrival: boolean): void {
    if (!this.closedFlag) this.native.noteActivity(arrival);
  }

  /** Closes every endpoint, the listener and the UCX worker. */
  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    openTransports.delete(this);
    this.server?.close();
    for (const socket of this.sockets) socket.destroy();
    for (const ep of this.byLocalId.values()) ep.lost('transport closed');
    this.byLocalId.clear();
    this.native.close();
  }

  private checkOpen(): void {
    if (this.closedFlag) throw new AddonError('ERR_TRANSPORT_CLOSED', 'transport is closed');
  }

  private allocateId(): number {
    const id = this.nextLocalId;
    this.nextLocalId = this.nextLocalId >= ROUTE_ID_MAX ? 1 : this.nextLocalId + 1;
    return id;
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 1000);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined); // 'close' follows and reports the loss
  }

  private accept(socket: net.Socket): void {
    if (this.closedFlag) {
      socket.destroy();
      return;
    }
    this.track(socket);
    const where = `${socket.remoteAddress}:${socket.remotePort}`;
    withTimeout(readBootstrap(socket), this.connectTimeoutMs, `bootstrap from ${where}`)
      .then((hello) => {
        const localId = this.allocateId();
        const ep = this.open(socket, localId, hello, where);
        writeBootstrap(socket, localId, this.maxAmPayloadBytes, this.native.workerAddress());
        this.emit('connection', ep);
      })
      .catch((err: Error) => {
        this.emit('bootstrapError', err);
        socket.destroy();
      });
  }

  private open(socket: net.Socket, localId: number, peer: BootstrapFrame, where: string): Endpoint {
    const nativeEp = nativeCall(() => this.native.connectAddress(peer.workerAddress));
    const ep = new Endpoint(nativeEp, socket, localId, peer.connectionId, where, peer.maxAmPayloadBytes);
    this.adopt(localId, ep);
    socket.once('close', () => ep.lost(`connection to ${where} closed`));
    // After the handshake the socket only signals liveness; any byte is a protocol error.
    socket.on('data', () => ep.lost(`unexpected bytes on the bootstrap socket from ${where}`));
    return ep;
  }

  private findByNative(nativeEp: NativeEndpoint): Endpoint | undefined {
    for (const ep of this.byLocalId.values()) if (ep.native === nativeEp) return ep;
    return undefined;
  }

  private dispatch(id: number, routed: Buffer, payload: Buffer): void {
    const route = routed.length >= AM_ROUTE_BYTES ? routed.readUInt32LE(0) : 0;
    const ep = this.byLocalId.get((route & ROUTE_ID_MAX) >>> 0);
    const handler = this.handlers.get(id);
    if (ep === undefined || handler === undefined) {
      this.emit('unhandledMessage', id, routed.length, payload.length);
      return;
    }
    if ((route & SPILLED) === 0) {
      handler(ep, routed.subarray(AM_ROUTE_BYTES), payload);
      return;
    }
    const headerLength = routed.length >= AM_ROUTE_BYTES + 4 ? routed.readUInt32LE(AM_ROUTE_BYTES) : -1;
    if (headerLength < 0 || headerLength > payload.length) {
      this.emit('unhandledMessage', id, routed.length, payload.length);
      return;
    }
    handler(ep, payload.subarray(0, headerLength), payload.subarray(headerLength));
  }
}

interface BootstrapFrame {
  connectionId: number;
  maxAmPayloadBytes: number;
  workerAddress: Buffer;
}

function writeBootstrap(socket: net.Socket, connectionId: number, maxAmPayloadBytes: number, workerAddress: Buffer): void {
  const frame = Buffer.allocUnsafe(BOOTSTRAP_HEADER_BYTES + workerAddress.length);
  frame.writeUInt32BE(BOOTSTRAP_HEADER_BYTES - 4 + workerAddress.length, 0);
  frame.writeUInt8(BOOTSTRAP_VERSION, 4);
  frame.writeUInt32BE(connectionId, 5);
  frame.writeUInt32BE(maxAmPayloadBytes, 9);
  workerAddress.copy(frame, BOOTSTRAP_HEADER_BYTES);
  socket.write(frame);
}

/** Reads exactly one bootstrap frame, leaving the socket paused for the caller. */
function readBootstrap(socket: net.Socket): Promise<BootstrapFrame> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('connection closed during bootstrap'));
    };
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 4) return;
      const length = buffered.readUInt32BE(0);
      if (length < 1 || length > MAX_BOOTSTRAP_FRAME_BYTES) {
        cleanup();
        reject(new Error(`bootstrap frame of ${length} bytes is outside 1..${MAX_BOOTSTRAP_FRAME_BYTES}`));
        return;
      }
      if (buffered.length < 4 + length) return;
      cleanup();
      if (buffered.length > 4 + length) {
        reject(new Error('peer sent bytes after its bootstrap frame'));
        return;
      }
      const version = buffered.readUInt8(4);
      if (version !== BOOTSTRAP_VERSION) {
        reject(new Error(`bootstrap version ${version} is not supported (expected ${BOOTSTRAP_VERSION})`));
        return;
      }
      if (length < BOOTSTRAP_HEADER_BYTES - 4) {
        reject(new Error(`bootstrap frame of ${length} bytes is shorter than its ${BOOTSTRAP_HEADER_BYTES - 4}-byte header`));
        return;
      }
      resolve({ connectionId: buffered.readUInt32BE(5), maxAmPayloadBytes: buffered.readUInt32BE(9), workerAddress: buffered.subarray(BOOTSTRAP_HEADER_BYTES, 4 + length) });
    };
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

function once(emitter: EventEmitter, event: string): Promise<void> {
  return new Promise((resolve, reject) => {
    emitter.once(event, () => resolve());
    emitter.once('error', reject);
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AddonError('ERR_PEER_UNREACHABLE', `${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
