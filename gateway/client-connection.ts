// One Kafka client's TCP connection: frames in, responses out in request
// order. Requests are handled concurrently (a parked JoinGroup or a
// long-polling Fetch does not hold up decoding), but each response waits in
// its slot until every earlier one has been written, as Kafka guarantees.
//
// Bounds: at most `maxInFlightPerConnection` requests and
// `maxInFlightRequestBytes` of request frames between read and written
// (reading pauses there), at most `maxPendingResponseBytes` queued on
// the socket (reading pauses until it drains), frames of at most
// `maxFrameBytes`.
//
// Across connections, every request byte held (frames being received and
// frames being handled) counts against one MemoryBudget of
// `maxBufferedRequestBytes`. A frame's buffer is taken from it, whole, as
// soon as the frame's size is known; when it does not fit, the connection
// stops reading and queues (first come, first served) with what it has: the
// read that brought the size. While the budget is full, connections between
// frames stop reading too. A frame must then arrive within
// `frameReceiveTimeoutMs`, so a slow sender holds its share only that long.
// A malformed frame closes the connection with one log line.
import * as net from 'net';
import { apiKeys, DecodedRequest, FrameSplitter } from './protocol';
import { AbandonRequest, DataContext, Dispatcher, RequestContext } from './context';
import { decodeFrame, encodeAnswer } from './dispatch';
import { FrameBufferPool } from './frame-buffers';
import { MemoryBudget } from './memory-budget';

interface Slot {
  /** Encoded response; [] for none; null while the handler runs. */
  chunks: Buffer[] | null;
  /** Run once the response has been handed to the kernel (or the connection closed). */
  afterWrite: (() => void)[];
}

/** What every connection of one listener shares. */
export interface SharedRequestMemory {
  /** Request bytes held across connections. */
  budget: MemoryBudget;
  /** Buffers of finished Produce frames, for the next frames of any connection. */
  frameBuffers: FrameBufferPool;
}

const NOTHING = Buffer.alloc(0);

export class ClientConnection<C extends DataContext = DataContext> {
  private readonly splitter: FrameSplitter;
  private readonly slots: Slot[] = [];
  private inFlight = 0;
  private inFlightBytes = 0;
  private closed = false;
  private readPaused = false;
  /** Bytes this connection has counted on the shared budget. */
  private budgetedBytes = 0;
  /** A frame buffer granted while waiting, not yet taken by the splitter. */
  private grantedFrameBytes = 0;
  /** Set while queued on the budget. */
  private cancelWait: (() => void) | undefined;
  private frameTimer: NodeJS.Timeout | undefined;
  /** Armed while responses wait for the socket: a client that reads none of them for too long is closed. */
  private writeTimer: NodeJS.Timeout | undefined;
  /** Releases of responses not yet written, run at the latest when the connection closes. */
  private readonly unwritten = new Set<() => void>();
  readonly peer: string;
  /** Who the client authenticated as (set after SASL or mTLS); absent: User:ANONYMOUS. */
  principal?: string;

  constructor(
    private readonly socket: net.Socket,
    private readonly gateway: C,
    private readonly dispatch: Dispatcher<C>,
    private readonly onClose: (c: ClientConnection<C>) => void,
    private readonly memory: SharedRequestMemory,
  ) {
    const limits = gateway.limits;
    this.splitter = new FrameSplitter(limits.maxFrameBytes, (size) => this.allocateFrame(size));
    this.peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    socket.setNoDelay(true);
    socket.setTimeout(limits.idleTimeoutMs);
    socket.on('timeout', () => this.onIdle());
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      this.watchWrites();
      this.updateBackpressure();
    });
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cancelWait?.();
    this.cancelWait = undefined;
    this.grantedFrameBytes = 0;
    clearTimeout(this.frameTimer);
    clearTimeout(this.writeTimer);
    this.socket.destroy();
    for (const release of [...this.unwritten]) release();
    // A partial frame goes with the socket; frames being handled are given back as their handlers settle.
    this.syncBudget();
    this.onClose(this);
  }

  private onIdle(): void {
    // Long-polls and parked group requests are activity too: only a quiet connection is idle.
    if (this.inFlight === 0 && this.slots.length === 0) {
      this.gateway.log(`closing idle Kafka connection from ${this.peer} after ${this.gateway.limits.idleTimeoutMs} ms`);
      this.close();
    } else {
      this.socket.setTimeout(this.gateway.limits.idleTimeoutMs);
    }
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    let frames: Buffer[];
    try {
      frames = this.splitter.push(chunk);
    } catch (err) {
      return this.reject(err);
    }
    if (this.splitter.bufferedBytes === 0) this.stopFrameTimer();
    for (const frame of frames) {
      if (this.closed) return;
      this.accept(frame);
    }
    this.syncBudget();
    this.updateBackpressure();
  }

  /** The splitter's allocator: a frame's whole buffer comes out of the shared budget, or the connection waits for it. */
  private allocateFrame(sizeBytes: number): Buffer | undefined {
    if (this.closed) return undefined;
    if (this.grantedFrameBytes === sizeBytes && sizeBytes > 0) {
      this.grantedFrameBytes = 0;
    } else if (this.cancelWait) {
      return undefined;
    } else if (this.memory.budget.tryTake(sizeBytes)) {
      this.budgetedBytes += sizeBytes;
    } else {
      this.cancelWait = this.memory.budget.wait(sizeBytes, () => {
        this.cancelWait = undefined;
        this.budgetedBytes += sizeBytes;
        this.grantedFrameBytes = sizeBytes;
        // Granted from inside another connection's give: continue once that is done.
        setImmediate(() => this.onData(NOTHING));
      });
      this.updateBackpressure();
      return undefined;
    }
    this.startFrameTimer();
    return this.memory.frameBuffers.acquire(sizeBytes);
  }

  /** Brings this connection's count on the shared budget to what it holds. */
  private syncBudget(): void {
    const held = this.inFlightBytes + this.grantedFrameBytes + (this.closed ? 0 : this.splitter.heldBytes);
    const delta = held - this.budgetedBytes;
    this.budgetedBytes = held;
    if (delta > 0) this.memory.budget.force(delta);
    else if (delta < 0) this.memory.budget.give(-delta);
  }

  private startFrameTimer(): void {
    clearTimeout(this.frameTimer);
    const timeoutMs = this.gateway.limits.frameReceiveTimeoutMs;
    this.frameTimer = setTimeout(() => {
      this.gateway.log(
        `closing Kafka connection from ${this.peer}: a ${this.splitter.heldBytes}-byte frame was not received within ${timeoutMs} ms ` +
          `(${this.splitter.bufferedBytes} bytes arrived); its memory is needed by others`,
      );
      this.close();
    }, timeoutMs);
  }

  private stopFrameTimer(): void {
    clearTimeout(this.frameTimer);
    this.frameTimer = undefined;
  }

  private accept(frame: Buffer): void {
    let request: DecodedRequest;
    try {
      const decoded = decodeFrame(frame, this.gateway.limits.maxArrayLength);
      if ('answer' in decoded) {
        this.slots.push({ chunks: decoded.answer, afterWrite: [] });
        this.flush();
        return;
      }
      request = decoded.request;
    } catch (err) {
      return this.reject(err);
    }
    const slot: Slot = { chunks: null, afterWrite: [] };
    this.slots.push(slot);
    this.inFlight++;
    this.inFlightBytes += frame.length;
    const call: RequestContext<C> = {
      gateway: this.gateway,
      header: request.header,
      apiVersion: request.header.apiVersion,
      clientHost: this.socket.remoteAddress ?? '',
      principal: this.principal,
      frame,
      afterWrite: (release) => this.holdUntilWritten(slot, release),
    };
    const answered = this.gateway.metrics?.begin(request.apiName);
    this.dispatch(request, call)
      .then((answer) => {
        answered?.(answer);
        slot.chunks = encodeAnswer(request, answer);
        // Produce has copied its records into the log (or forwarded them) and its response holds no view of them.
        if (request.header.apiKey === apiKeys.Produce) this.memory.frameBuffers.release(frame);
      })
      .catch((err: Error) => {
        // Handlers answer expected failures in the response; anything else but an abandoned request is a bug. Kafka closes too.
        if (err instanceof AbandonRequest) this.gateway.log(`${request.apiName} from ${this.peer} abandoned, closing the connection: ${err.message}`);
        else this.gateway.log(`${request.apiName} v${request.header.apiVersion} from ${this.peer} failed, closing the connection: ${err.stack ?? err.message}`);
        slot.chunks = [];
        this.close();
      })
      .finally(() => {
        this.inFlight--;
        this.inFlightBytes -= frame.length;
        this.syncBudget();
        this.flush();
        this.updateBackpressure();
      });
  }

  private holdUntilWritten(slot: Slot, release: () => void): void {
    let done = false;
    const once = (): void => {
      if (done) return;
      done = true;
      this.unwritten.delete(once);
      release();
    };
    if (this.closed) return once();
    this.unwritten.add(once);
    slot.afterWrite.push(once);
  }

  /** Writes every finished response at the head of the queue, in order. */
  private flush(): void {
    if (this.closed) return;
    let wrote = false;
    while (this.slots.length > 0 && this.slots[0].chunks !== null) {
      const slot = this.slots.shift()!;
      const chunks = slot.chunks!;
      const written = slot.afterWrite.length === 0 ? undefined : () => slot.afterWrite.forEach((release) => release());
      if (chunks.length === 0) {
        written?.();
        continue;
      }
      if (!wrote) this.socket.cork();
      wrote = true;
      chunks.forEach((chunk, i) => (i === chunks.length - 1 && written ? this.socket.write(chunk, () => written()) : this.socket.write(chunk)));
    }
    if (wrote) this.socket.uncork();
    this.watchWrites();
  }

  /**
   * Responses queued on the socket hold memory (a Fetch's share of
   * maxFetchMemoryBytes until it is written): a client that takes none of
   * their bytes for `responseWriteTimeoutMs` is closed. Any progress re-arms it.
   */
  private watchWrites(): void {
    if (this.closed || this.socket.writableLength === 0) {
      clearTimeout(this.writeTimer);
      this.writeTimer = undefined;
      return;
    }
    if (this.writeTimer) return;
    const timeoutMs = this.gateway.limits.responseWriteTimeoutMs;
    let writtenBefore = this.socket.bytesWritten;
    const check = (): void => {
      this.writeTimer = undefined;
      if (this.closed || this.socket.writableLength === 0) return;
      if (this.socket.bytesWritten === writtenBefore) {
        this.gateway.log(`closing Kafka connection from ${this.peer}: it read none of ${this.socket.writableLength} response bytes in ${timeoutMs} ms`);
        this.close();
        return;
      }
      writtenBefore = this.socket.bytesWritten;
      this.writeTimer = setTimeout(check, timeoutMs);
    };
    this.writeTimer = setTimeout(check, timeoutMs);
  }

  private updateBackpressure(): void {
    if (this.closed) return;
    const limits = this.gateway.limits;
    const budget = this.memory.budget;
    // Between frames, a full budget stops reading; a frame whose buffer was granted is always read to its end.
    if (!this.cancelWait && this.splitter.heldBytes === 0 && budget.used >= budget.capacityBytes) {
      this.cancelWait = budget.wait(0, () => {
        this.cancelWait = undefined;
        setImmediate(() => this.updateBackpressure());
      });
    }
    const full =
      this.cancelWait !== undefined ||
      this.inFlight >= limits.maxInFlightPerConnection ||
      this.inFlightBytes >= limits.maxInFlightRequestBytes ||
      this.socket.writableLength >= limits.maxPendingResponseBytes;
    if (full && !this.readPaused) {
      this.readPaused = true;
      this.socket.pause();
    } else if (!full && this.readPaused) {
      this.readPaused = false;
      this.socket.resume();
    }
  }

  private reject(err: unknown): void {
    const reason = err instanceof Error ? err.message : String(err);
    this.gateway.log(`closing Kafka connection from ${this.peer}: ${reason}`);
    this.close();
  }
}
