// One Kafka client's TCP connection: frames in, responses out in request
// order. Requests are handled concurrently (a parked JoinGroup or a
// long-polling Fetch does not hold up decoding), but each response waits in
// its slot until every earlier one has been written, as Kafka guarantees.
//
// Bounds: at most `maxInFlightPerConnection` requests and
// `maxInFlightRequestBytes` of request frames between read and written
// (reading pauses there), at most `maxPendingResponseBytes` queued on
// the socket (reading pauses until it drains), frames of at most
// `maxFrameBytes`, and `frameBufferPoolBytes` of frame buffers kept for reuse.
// A malformed frame closes the connection with one log line.
import * as net from 'net';
import { apiKeys, DecodedRequest, FrameSplitter } from './protocol';
import { AbandonRequest, DataContext, Dispatcher, RequestContext } from './context';
import { decodeFrame, encodeAnswer } from './dispatch';
import { FrameBufferPool } from './frame-buffers';

interface Slot {
  /** Encoded response; [] for none; null while the handler runs. */
  chunks: Buffer[] | null;
}

export class ClientConnection<C extends DataContext = DataContext> {
  private readonly splitter: FrameSplitter;
  private readonly frameBuffers: FrameBufferPool;
  private readonly slots: Slot[] = [];
  private inFlight = 0;
  private inFlightBytes = 0;
  private closed = false;
  private readPaused = false;
  readonly peer: string;

  constructor(
    private readonly socket: net.Socket,
    private readonly gateway: C,
    private readonly dispatch: Dispatcher<C>,
    private readonly onClose: (c: ClientConnection<C>) => void,
  ) {
    const limits = gateway.limits;
    this.frameBuffers = new FrameBufferPool(limits.frameBufferPoolBytes);
    this.splitter = new FrameSplitter(limits.maxFrameBytes, (size) => this.frameBuffers.acquire(size));
    this.peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    socket.setNoDelay(true);
    socket.setTimeout(limits.idleTimeoutMs);
    socket.on('timeout', () => this.onIdle());
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.updateBackpressure());
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
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
    for (const frame of frames) {
      if (this.closed) return;
      this.accept(frame);
    }
  }

  private accept(frame: Buffer): void {
    let request: DecodedRequest;
    try {
      const decoded = decodeFrame(frame, this.gateway.limits.maxArrayLength);
      if ('answer' in decoded) {
        this.slots.push({ chunks: decoded.answer });
        this.flush();
        return;
      }
      request = decoded.request;
    } catch (err) {
      return this.reject(err);
    }
    const slot: Slot = { chunks: null };
    this.slots.push(slot);
    this.inFlight++;
    this.inFlightBytes += frame.length;
    this.updateBackpressure();
    const call: RequestContext<C> = {
      gateway: this.gateway,
      header: request.header,
      apiVersion: request.header.apiVersion,
      clientHost: this.socket.remoteAddress ?? '',
      frame,
    };
    const answered = this.gateway.metrics?.begin(request.apiName);
    this.dispatch(request, call)
      .then((answer) => {
        answered?.(answer);
        slot.chunks = encodeAnswer(request, answer);
        // Produce has copied its records into the log (or forwarded them) and its response holds no view of them.
        if (request.header.apiKey === apiKeys.Produce) this.frameBuffers.release(frame);
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
        this.flush();
        this.updateBackpressure();
      });
  }

  /** Writes every finished response at the head of the queue, in order. */
  private flush(): void {
    if (this.closed) return;
    let wrote = false;
    while (this.slots.length > 0 && this.slots[0].chunks !== null) {
      const chunks = this.slots.shift()!.chunks!;
      if (chunks.length === 0) continue;
      if (!wrote) this.socket.cork();
      wrote = true;
      for (const chunk of chunks) this.socket.write(chunk);
    }
    if (wrote) this.socket.uncork();
  }

  private updateBackpressure(): void {
    if (this.closed) return;
    const limits = this.gateway.limits;
    const full =
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
