// One client's link to an rdmq cluster: the broker's gRPC control plane, and
// one UCX endpoint for the fast path (two-sided control messages to the
// broker, one-sided puts and gets to the segments). Producers and consumers
// created from the same client share it.
import * as grpc from '@grpc/grpc-js';
import { Endpoint, RemoteKey, Transport } from '../addon';
import { brokerService, ClusterInfo, ERROR_METADATA_KEY } from '../broker';
import { FastPathMessage } from '../format/fastpath-wire';
import { RdmqError } from './errors';

export interface ConnectionOptions {
  /** Broker control address, HOST:PORT (default 127.0.0.1:7400). */
  control?: string;
  /** Milliseconds before a fast-path request without reply fails (default 30 s). */
  requestTimeoutMs?: number;
}

export interface TopicInfo {
  name: string;
  topicId: number;
  partitions: { partition: number; logStartOffset: string; highWatermark: string; segments: number; committedBytes: number }[];
  configs: Record<string, string>;
}

interface Pending {
  resolve(reply: { header: Buffer; payload: Buffer }): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

const REPLY_IDS = [FastPathMessage.STAGE_REPLY, FastPathMessage.COMMIT_REPLY, FastPathMessage.ACQUIRE_REPLY, FastPathMessage.SUBSCRIBE_REPLY, FastPathMessage.LOCATE_REPLY];

export class Connection {
  private readonly pending = new Map<number, Pending>();
  private readonly keys = new Map<string, RemoteKey>();
  /** Holders of each counted key (retainSegmentKey); the key is destroyed when the last lets go. */
  private readonly keyHolders = new Map<string, number>();
  private nextReqId = 1;
  private closed = false;
  private pushHandlers = new Map<number, Set<(header: Buffer, payload: Buffer) => void>>();

  private constructor(
    readonly control: grpc.Client,
    readonly transport: Transport,
    /** To the broker: two-sided control messages. */
    readonly endpoint: Endpoint,
    /** To the storage node: one-sided puts and gets (the same endpoint when they share a process). */
    readonly dataEndpoint: Endpoint,
    readonly cluster: ClusterInfo,
    private readonly requestTimeoutMs: number,
  ) {
    for (const id of REPLY_IDS) transport.onMessage(id, (_ep, header, payload) => this.onReply(header, payload));
    for (const id of [FastPathMessage.WATERMARK, FastPathMessage.SEGMENT]) {
      transport.onMessage(id, (_ep, header, payload) => this.pushHandlers.get(id)?.forEach((fn) => fn(header, payload)));
    }
    for (const ep of new Set([endpoint, dataEndpoint])) {
      ep.once('close', (reason: string) => this.failAll(new RdmqError(`fast-path connection lost: ${reason}`, 7, 'REQUEST_TIMED_OUT', true)));
    }
  }

  static async open(options: ConnectionOptions = {}): Promise<Connection> {
    const address = options.control ?? '127.0.0.1:7400';
    const Client = brokerService();
    const control = new Client(address, grpc.credentials.createInsecure());
    const cluster = await unaryCall<ClusterInfo>(control, 'getClusterInfo', {});
    const transport = new Transport();
    const connect = (address: string): Promise<Endpoint> => {
      const at = address.lastIndexOf(':');
      return transport.connect(address.slice(0, at), Number(address.slice(at + 1)));
    };
    try {
      const endpoint = await connect(cluster.fastpathAddress);
      const storage = cluster.storageFastpathAddress || cluster.fastpathAddress;
      const dataEndpoint = storage === cluster.fastpathAddress ? endpoint : await connect(storage);
      return new Connection(control, transport, endpoint, dataEndpoint, cluster, options.requestTimeoutMs ?? 30_000);
    } catch (err) {
      transport.close();
      control.close();
      throw err;
    }
  }

  /** Calls a unary method of the broker's gRPC service. */
  call<T>(method: string, request: object): Promise<T> {
    return unaryCall<T>(this.control, method, request);
  }

  describeTopic(name: string): Promise<TopicInfo> {
    return this.call<TopicInfo>('describeTopic', { name });
  }

  /** Sends a fast-path request whose header starts with the u32 request id `build` is given. */
  request(id: number, build: (reqId: number) => Buffer, payload?: Buffer): Promise<{ header: Buffer; payload: Buffer }> {
    if (this.closed) return Promise.reject(new RdmqError('connection is closed', -1, 'CLOSED', false));
    const reqId = this.nextReqId;
    this.nextReqId = this.nextReqId >= 0xffffffff ? 1 : this.nextReqId + 1;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(reqId);
        reject(new RdmqError(`no reply to fast-path request ${reqId} within ${this.requestTimeoutMs} ms`, 7));
      }, this.requestTimeoutMs);
      this.pending.set(reqId, { resolve, reject, timer });
      this.endpoint.send(id, build(reqId), payload).catch((err: Error) => {
        clearTimeout(timer);
        this.pending.delete(reqId);
        reject(err);
      });
    });
  }

  onPush(id: number, fn: (header: Buffer, payload: Buffer) => void): () => void {
    let set = this.pushHandlers.get(id);
    if (!set) this.pushHandlers.set(id, (set = new Set()));
    set.add(fn);
    return () => set!.delete(fn);
  }

  /** The imported key for a segment, importing `packed` the first time. */
  segmentKey(segmentId: number, access: 'read' | 'read-write', packed?: Buffer): RemoteKey {
    const tag = `${segmentId}:${access}`;
    let key = this.keys.get(tag);
    if (!key && packed && packed.length > 0) {
      key = this.dataEndpoint.importKey(packed);
      this.keys.set(tag, key);
    }
    if (!key) throw new RdmqError(`no ${access} key for segment ${segmentId}`, -1);
    return key;
  }

  /**
   * `segmentKey` for a holder that lets go of it again (a partition view for
   * each segment it reads): the key is imported for the first holder and
   * destroyed once the last releases it, so a long-running reader does not
   * keep one imported key per segment it ever read. The caller must have no
   * get in flight with the key when it releases.
   */
  retainSegmentKey(segmentId: number, access: 'read' | 'read-write', packed: Buffer): RemoteKey {
    const tag = `${segmentId}:${access}`;
    const key = this.segmentKey(segmentId, access, packed);
    this.keyHolders.set(tag, (this.keyHolders.get(tag) ?? 0) + 1);
    return key;
  }

  releaseSegmentKey(segmentId: number, access: 'read' | 'read-write'): void {
    const tag = `${segmentId}:${access}`;
    const holders = this.keyHolders.get(tag);
    if (holders === undefined) return;
    if (holders > 1) {
      this.keyHolders.set(tag, holders - 1);
      return;
    }
    this.keyHolders.delete(tag);
    this.keys.get(tag)?.destroy();
    this.keys.delete(tag);
  }

  /** Imported segment keys (for tests and metrics). */
  get importedKeyCount(): number {
    return this.keys.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new RdmqError('connection closed', -1, 'CLOSED', false));
    for (const key of this.keys.values()) key.destroy();
    this.keys.clear();
    this.keyHolders.clear();
    await this.endpoint.close();
    if (this.dataEndpoint !== this.endpoint) await this.dataEndpoint.close();
    this.transport.close();
    this.control.close();
  }

  private onReply(header: Buffer, payload: Buffer): void {
    if (header.length < 4) return;
    const reqId = header.readUInt32LE(0);
    const pending = this.pending.get(reqId);
    if (!pending) return;
    this.pending.delete(reqId);
    clearTimeout(pending.timer);
    pending.resolve({ header, payload });
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }
}

function unaryCall<T>(client: grpc.Client, method: string, request: object): Promise<T> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, (req: object, opts: grpc.CallOptions, cb: grpc.requestCallback<T>) => void>)[method];
    fn.call(client, request, { deadline: Date.now() + 30_000 }, (err, value) => {
      if (err) {
        const name = err.metadata?.get(ERROR_METADATA_KEY)[0];
        const code = name === 'UNKNOWN_TOPIC_OR_PARTITION' ? 3 : name === 'TOPIC_ALREADY_EXISTS' ? 36 : err.code === grpc.status.UNAVAILABLE ? 15 : -1;
        reject(new RdmqError(err.details || err.message, code, name ? String(name) : undefined, err.code === grpc.status.UNAVAILABLE));
      } else {
        resolve(value as T);
      }
    });
  });
}
