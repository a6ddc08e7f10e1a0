// One connection to a storage node's checked data path
// (format/storage-data-wire.ts). A put resolves once the node has checked the
// grant and the bytes are in its region (so `local` may be reused at once); a
// get resolves once the bytes are in `local`. A refusal rejects with the
// node's error code and message; a lost connection rejects everything in
// flight and emits 'close' once.
//
// Contract: single-threaded (JS); many requests may be in flight, answered in order.
import { EventEmitter } from 'events';
import * as net from 'net';
import { ChunkQueue } from '../format/chunk-queue';
import {
  DATA_RESPONSE_HEADER_BYTES,
  DataOp,
  DataOpCode,
  DataResponseHeader,
  decodeDataResponseHeader,
  encodeDataRequest,
} from '../format/storage-data-wire';

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
  /** Where a get's bytes go. */
  local?: Uint8Array;
  resolve(): void;
  reject(err: Error): void;
}

const CONNECT_TIMEOUT_MS = 10_000;

export class DataLink extends EventEmitter {
  private readonly inFlight: InFlight[] = [];
  private readonly queue = new ChunkQueue();
  private response: DataResponseHeader | undefined;
  private bodyReceived = 0;
  private errorBody: Buffer | undefined;
  private nextReqId = 1;
  private lostReason: string | undefined;

  private constructor(
    private readonly socket: net.Socket,
    readonly remoteAddress: string,
  ) {
    super();
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', () => undefined);
    socket.once('close', () => this.lost(`connection to storage node at ${remoteAddress} closed`));
  }

  static connect(address: string): Promise<DataLink> {
    const at = address.lastIndexOf(':');
    const host = address.slice(0, at).replace(/^\[|\]$/g, '');
    const port = Number(address.slice(at + 1));
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port });
      const timer = setTimeout(() => socket.destroy(new Error(`connect to ${address} timed out after ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new DataLink(socket, address));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  get closed(): boolean {
    return this.lostReason !== undefined;
  }

  put(grant: Uint8Array, position: number, local: Uint8Array): Promise<void> {
    return this.request(DataOp.PUT, grant, position, local.length, undefined, local);
  }

  get(grant: Uint8Array, position: number, local: Uint8Array): Promise<void> {
    return this.request(DataOp.GET, grant, position, local.length, local);
  }

  /** Puts are complete at the node when they resolve; nothing is left to flush. */
  async flush(): Promise<void> {
    if (this.lostReason !== undefined) throw new Error(this.lostReason);
  }

  close(): Promise<void> {
    this.lost('closed locally');
    return Promise.resolve();
  }

  private request(op: DataOpCode, grant: Uint8Array, position: number, lengthBytes: number, local?: Uint8Array, payload?: Uint8Array): Promise<void> {
    if (this.lostReason !== undefined) return Promise.reject(new Error(this.lostReason));
    const reqId = this.nextReqId;
    this.nextReqId = this.nextReqId >= 0xffffffff ? 1 : this.nextReqId + 1;
    return new Promise<void>((resolve, reject) => {
      this.inFlight.push({ reqId, local, resolve, reject });
      this.socket.write(encodeDataRequest(op, reqId, grant, position, lengthBytes));
      if (payload && payload.length > 0) this.socket.write(payload);
    });
  }

  private receive(chunk: Buffer): void {
    this.queue.push(chunk);
    try {
      while (this.step());
    } catch (err) {
      this.socket.destroy();
      this.lost(`unreadable answer from storage node at ${this.remoteAddress}: ${(err as Error).message}`);
    }
  }

  private step(): boolean {
    if (!this.response) {
      if (this.queue.available < DATA_RESPONSE_HEADER_BYTES) return false;
      this.response = decodeDataResponseHeader(this.queue.take(DATA_RESPONSE_HEADER_BYTES));
      this.bodyReceived = 0;
      const head = this.inFlight[0];
      if (!head || head.reqId !== this.response.reqId) throw new Error(`answer to request ${this.response.reqId} was not expected`);
      if (this.response.failed) this.errorBody = Buffer.alloc(this.response.bodyBytes);
      else if (this.response.bodyBytes !== (head.local?.length ?? 0)) throw new Error(`answer of ${this.response.bodyBytes} bytes to a request for ${head.local?.length ?? 0}`);
    }
    const r = this.response;
    const head = this.inFlight[0];
    const target = r.failed ? this.errorBody! : head.local ?? null;
    this.bodyReceived += this.queue.moveInto(target, this.bodyReceived, r.bodyBytes - this.bodyReceived);
    if (this.bodyReceived < r.bodyBytes) return false;
    this.inFlight.shift();
    this.response = undefined;
    if (r.failed) {
      const body = this.errorBody!;
      this.errorBody = undefined;
      head.reject(new DataRefusedError(body.subarray(0, r.codeBytes).toString(), body.subarray(r.codeBytes).toString()));
    } else {
      head.resolve();
    }
    return true;
  }

  private lost(reason: string): void {
    if (this.lostReason !== undefined) return;
    this.lostReason = reason;
    this.socket.destroy();
    for (const op of this.inFlight.splice(0)) op.reject(new Error(reason));
    this.emit('close', reason);
  }
}
