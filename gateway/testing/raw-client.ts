// A minimal Kafka client over one TCP connection, for tests that need exact
// bytes: typed requests encoded by the gateway's own codec, responses decoded
// by correlation id, raw frames for fuzzing.
import * as net from 'net';
import { apiKeys, ApiName, decodeResponse, encodeRequest, FrameSplitter, RequestInput } from '../protocol';

export class RawKafkaClient {
  private readonly splitter = new FrameSplitter(256 * 1024 * 1024);
  private readonly waiting = new Map<number, { resolve(frame: Buffer): void; reject(err: Error): void }>();
  private nextCorrelationId = 1;
  private closedError: Error | null = null;
  /** Correlation ids in the order their responses arrived. */
  readonly arrivals: number[] = [];

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.splitter.push(chunk)) {
        const correlationId = frame.readInt32BE(0);
        this.arrivals.push(correlationId);
        const w = this.waiting.get(correlationId);
        this.waiting.delete(correlationId);
        w?.resolve(frame);
      }
    });
    const fail = (err: Error) => {
      this.closedError ??= err;
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed by the gateway')));
  }

  static connect(address: string): Promise<RawKafkaClient> {
    const at = address.lastIndexOf(':');
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(address.slice(at + 1)), address.slice(0, at), () => resolve(new RawKafkaClient(socket)));
      socket.once('error', reject);
    });
  }

  get closed(): boolean {
    return this.closedError !== null;
  }

  /** Resolves when the gateway closes the connection (or after timeoutMs, to false). */
  waitForClose(timeoutMs = 5000): Promise<boolean> {
    if (this.closed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Sends a typed request and resolves to the decoded response body. */
  async request<N extends ApiName>(api: N, version: number, body: RequestInput<N>): Promise<Record<string, any>> {
    const correlationId = this.send(api, version, body);
    const frame = await this.response(correlationId);
    return decodeResponse(apiKeys[api], version, frame).body;
  }

  /** Sends without waiting; returns the correlation id. */
  send<N extends ApiName>(api: N, version: number, body: RequestInput<N>): number {
    const correlationId = this.nextCorrelationId++;
    this.socket.write(encodeRequest({ apiKey: apiKeys[api], apiVersion: version, correlationId, clientId: 'raw-test' }, body));
    return correlationId;
  }

  /** The response frame (without size prefix) for a correlation id. */
  response(correlationId: number, timeoutMs = 10_000): Promise<Buffer> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(correlationId);
        reject(new Error(`no response to correlation id ${correlationId} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(correlationId, {
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  /** Writes raw bytes (a frame with or without a valid size prefix). */
  writeRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** A fresh correlation id for hand-built frames. */
  takeCorrelationId(): number {
    return this.nextCorrelationId++;
  }

  close(): void {
    this.socket.destroy();
  }
}
