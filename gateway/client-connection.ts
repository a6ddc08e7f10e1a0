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
import {
  apiKeys,
  decodeRequest,
  DecodedRequest,
  encodeResponse,
  encodeResponseChunks,
  FrameSplitter,
  ProtocolError,
} from './protocol';
import { GatewayContext, NO_RESPONSE, RequestContext } from './context';
import { dispatch } from './dispatch';
import { apiVersionsBody } from './handlers/api-versions';
import { FrameBufferPool } from './frame-buffers';

interface Slot {
  /** Encoded response; [] for none; null while the handler runs. */
  chunks: Buffer[] | null;
}

export class ClientConnection {
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
    private readonly gateway: GatewayContext,
    private readonly onClose: (c: ClientConnection) => void,
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
      request = decodeRequest(frame, { maxArrayLength: this.gateway.limits.maxArrayLength });
    } catch (err) {
      if (err instanceof ProtocolError && err.entry.name === 'UNSUPPORTED_VERSION' && err.apiKey === apiKeys.ApiVersions && err.correlationId !== null) {
        // Kafka answers an ApiVersions it cannot parse with a v0 response: the error and its table.
        this.slots.push({ chunks: [encodeResponse(apiKeys.ApiVersions, 0, err.correlationId, apiVersionsBody(err.code))] });
        this.flush();
        return;
      }
      return this.reject(err);
    }
    const slot: Slot = { chunks: null };
    this.slots.push(slot);
    this.inFlight++;
    this.inFlightBytes += frame.length;
    this.updateBackpressure();
    const call: RequestContext = {
      gateway: this.gateway,
      header: request.header,
      apiVersion: request.header.apiVersion,
      clientHost: this.socket.remoteAddress ?? '',
    };
    const { apiKey, apiVersion, correlationId } = request.header;
    const answered = this.gateway.metrics?.begin(request.apiName);
    dispatch(request, call)
      .then((response) => {
        answered?.(response);
        slot.chunks = response === NO_RESPONSE ? [] : encodeResponseChunks(apiKey, apiVersion, correlationId, response);
        // Produce has copied its records into the log and its response holds no view of them.
        if (apiKey === apiKeys.Produce) this.frameBuffers.release(frame);
      })
      .catch((err: Error) => {
        // Handlers answer expected failures in the response; reaching here is a bug. Kafka closes too.
        this.gateway.log(`${request.apiName} v${apiVersion} from ${this.peer} failed, closing the connection: ${err.stack ?? err.message}`);
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
