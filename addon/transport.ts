import { EventEmitter } from 'events';
import { AddonError, nativeAsync, nativeCall } from './errors';
import { native, NativeEndpoint, NativeMemoryRegistration, NativeRemoteKey, NativeTransport } from './native';
import { Region } from './region';

export type Access = 'read' | 'read-write';

/** Active-message ids are 0..MAX_MESSAGE_ID. */
export const MAX_MESSAGE_ID = 255;

export interface TransportOptions {
  /** Largest active-message payload accepted or sent (default 16 MiB). */
  maxAmPayloadBytes?: number;
  /**
   * Detect peer failure on endpoints (default true). UCX 1.13's shared-memory
   * transports cannot, so with UCX_TLS limited to them this must be false.
   */
  peerErrorHandling?: boolean;
}

export type MessageHandler = (endpoint: Endpoint, header: Buffer, payload: Buffer) => void;

/** A range of a Region registered with UCX; its packed key lets one peer reach it. */
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

/**
 * A connection to one peer. put/get are one-sided; each returns a Promise
 * settled when UCX reports the operation complete locally. `flush` resolves
 * once every earlier operation on this endpoint is complete at the peer.
 */
export class Endpoint {
  constructor(readonly native: NativeEndpoint) {}

  get closed(): boolean {
    return this.native.closed;
  }

  put(local: Uint8Array, key: RemoteKey, remoteOffset: number): Promise<void> {
    return nativeAsync(() => this.native.put(local, key.native, remoteOffset));
  }

  get(local: Uint8Array, key: RemoteKey, remoteOffset: number): Promise<void> {
    return nativeAsync(() => this.native.get(local, key.native, remoteOffset));
  }

  flush(): Promise<void> {
    return nativeAsync(() => this.native.flush());
  }

  /** Sends a two-sided active message; the peer's handler for `id` receives it. */
  send(id: number, header: Uint8Array, payload: Uint8Array = EMPTY): Promise<void> {
    return nativeAsync(() => this.native.sendAm(id, header, payload));
  }

  importKey(packed: Uint8Array): RemoteKey {
    return new RemoteKey(nativeCall(() => this.native.importKey(packed)));
  }

  close(): Promise<void> {
    return nativeAsync(() => this.native.close());
  }
}

const EMPTY = new Uint8Array(0);

/**
 * One UCX context and worker. Progress is driven from the worker's event fd
 * in libuv: an idle transport costs no CPU. Like a net.Server, a listening or
 * connected transport keeps the process alive until closed or unref()'d.
 *
 * Events: 'connection' (endpoint), 'endpointError' (endpoint, message).
 */
export class Transport extends EventEmitter {
  private readonly native: NativeTransport;
  private readonly endpoints = new WeakMap<NativeEndpoint, Endpoint>();
  private readonly handlers = new Map<number, MessageHandler>();
  private closedFlag = false;

  constructor(options: TransportOptions = {}) {
    super();
    this.native = nativeCall(() => new (native().Transport)({ maxAmPayloadBytes: options.maxAmPayloadBytes, peerErrorHandling: options.peerErrorHandling }));
    this.native.setHandlers({
      connection: (ep) => this.emit('connection', this.wrap(ep)),
      am: (id, ep, header, payload) => this.dispatch(id, ep, header, payload),
      endpointError: (ep, message) => this.emit('endpointError', this.wrap(ep), message),
    });
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Accepts connections on host:port (0 picks a free port); returns the bound port. */
  listen(host: string, port: number): number {
    return nativeCall(() => this.native.listen(host, port));
  }

  /** Connects and waits until the endpoint is wired up (or fails). */
  async connect(host: string, port: number): Promise<Endpoint> {
    const ep = this.wrap(nativeCall(() => this.native.connect(host, port)));
    try {
      await ep.flush();
    } catch (err) {
      await ep.close().catch(() => undefined);
      throw err;
    }
    return ep;
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

  /** Lets the process exit even while listening or connected (like socket.unref()). */
  unref(): this {
    this.native.unref();
    return this;
  }

  ref(): this {
    this.native.ref();
    return this;
  }

  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.native.close();
  }

  private wrap(ep: NativeEndpoint): Endpoint {
    let wrapped = this.endpoints.get(ep);
    if (wrapped === undefined) {
      wrapped = new Endpoint(ep);
      this.endpoints.set(ep, wrapped);
    }
    return wrapped;
  }

  private dispatch(id: number, ep: NativeEndpoint | null, header: Buffer, payload: Buffer): void {
    const handler = this.handlers.get(id);
    if (handler === undefined || ep === null) {
      this.emit('unhandledMessage', id, header.length, payload.length);
      return;
    }
    handler(this.wrap(ep), header, payload);
  }
}
