// One client's link to an rdmq cluster: the broker's gRPC control plane, and
// one UCX endpoint for the fast path (two-sided control messages to the
// broker, one-sided puts and gets to the segments). Producers and consumers
// created from the same client share it.
//
// When either endpoint is lost (the broker or the storage node restarted), the
// connection re-establishes both by itself, with backoff: requests in flight
// fail with a retriable error, keys imported on the old data endpoint are
// dropped (grants carry fresh ones), and 'reconnected' tells producers and
// consumers to start over from what they know (cursors, read positions). A
// new broker endpoint is a new broker session, so its keys are all sent anew.
import * as grpc from '@grpc/grpc-js';
import { EventEmitter } from 'events';
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

/** Backoff between attempts to re-establish the endpoints. */
const RECONNECT_DELAY_MS_MIN = 100;
const RECONNECT_DELAY_MS_MAX = 2000;
const KAFKA_STORAGE_ERROR = 56;

const REPLY_IDS = [FastPathMessage.STAGE_REPLY, FastPathMessage.COMMIT_REPLY, FastPathMessage.ACQUIRE_REPLY, FastPathMessage.SUBSCRIBE_REPLY, FastPathMessage.LOCATE_REPLY];

export class Connection extends EventEmitter {
  private readonly pending = new Map<number, Pending>();
  /** Keys imported on the current data endpoint, with the packed bytes they came from. */
  private keys = new Map<string, { packed: Buffer; key: RemoteKey }>();
  /** Which data endpoint each key was imported on: a key is used only there. */
  private readonly keyEndpoints = new WeakMap<RemoteKey, Endpoint>();
  /** Keys replaced by fresher ones on a live endpoint: destroyed on close, since a put may still use them. */
  private readonly retiredKeys: RemoteKey[] = [];
  /** Holders of each counted key (retainSegmentKey); the key is destroyed when the last lets go. */
  private readonly keyHolders = new Map<string, number>();
  private nextReqId = 1;
  private closed = false;
  private reconnecting: Promise<void> | undefined;
  private pushHandlers = new Map<number, Set<(header: Buffer, payload: Buffer) => void>>();
  /** Counts re-established endpoints: work begun under an older generation cannot be finished. */
  generation = 0;

  private constructor(
    readonly control: grpc.Client,
    readonly transport: Transport,
    /** To the broker: two-sided control messages. */
    private brokerEndpoint: Endpoint,
    /** To the storage node: one-sided puts and gets (the same endpoint when they share a process). */
    private storageEndpoint: Endpoint,
    private clusterInfo: ClusterInfo,
    private readonly requestTimeoutMs: number,
  ) {
    super();
    // Every producer, consumer and reader pool on this connection listens for 'reconnected'.
    this.setMaxListeners(0);
    for (const id of REPLY_IDS) transport.onMessage(id, (_ep, header, payload) => this.onReply(header, payload));
    for (const id of [FastPathMessage.WATERMARK, FastPathMessage.SEGMENT]) {
      transport.onMessage(id, (_ep, header, payload) => this.pushHandlers.get(id)?.forEach((fn) => fn(header, payload)));
    }
    this.watch(brokerEndpoint, storageEndpoint);
  }

  static async open(options: ConnectionOptions = {}): Promise<Connection> {
    const address = options.control ?? '127.0.0.1:7400';
    const Client = brokerService();
    // A restarted broker is found again within a couple of seconds, not after gRPC's default backoff of up to 2 minutes.
    const control = new Client(address, grpc.credentials.createInsecure(), {
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2000,
    });
    const cluster = await unaryCall<ClusterInfo>(control, 'getClusterInfo', {});
    const transport = new Transport();
    try {
      const { endpoint, dataEndpoint } = await connectEndpoints(transport, cluster);
      return new Connection(control, transport, endpoint, dataEndpoint, cluster, options.requestTimeoutMs ?? 30_000);
    } catch (err) {
      transport.close();
      control.close();
      throw err;
    }
  }

  /** To the broker: two-sided control messages. Replaced when re-established. */
  get endpoint(): Endpoint {
    return this.brokerEndpoint;
  }

  /** To the storage node: one-sided puts and gets. Replaced when re-established. */
  get dataEndpoint(): Endpoint {
    return this.storageEndpoint;
  }

  get cluster(): ClusterInfo {
    return this.clusterInfo;
  }

  /** Puts into a segment with a key imported on the current data endpoint. */
  put(local: Uint8Array, key: RemoteKey, remoteOffset: number): Promise<void> {
    return this.onData(key, (ep) => ep.put(local, key, remoteOffset));
  }

  /**
   * Bytes read with one-sided gets, per storage node (replica) they came from.
   * A storage node never sees a one-sided read, so the reader counts them
   * (rdmq bench reports them per replica). With replication, the key is the
   * replica the read went to.
   */
  readonly readBytesByReplica = new Map<string, number>();

  /** Gets from a segment with a key imported on the current data endpoint. */
  async get(local: Uint8Array, key: RemoteKey, remoteOffset: number): Promise<void> {
    await this.onData(key, (ep) => ep.get(local, key, remoteOffset));
    const replica = this.clusterInfo.storageFastpathAddress;
    this.readBytesByReplica.set(replica, (this.readBytesByReplica.get(replica) ?? 0) + local.byteLength);
  }

  /** Resolves once every earlier put of `generation` is complete at the storage node; fails if the endpoint was replaced since. */
  async flush(generation = this.generation): Promise<void> {
    if (generation !== this.generation) throw reestablished('flush');
    try {
      await this.storageEndpoint.flush();
    } catch (err) {
      throw storageUnreachable(err);
    }
  }

  private async onData(key: RemoteKey, op: (ep: Endpoint) => Promise<void>): Promise<void> {
    const ep = this.storageEndpoint;
    if (this.keyEndpoints.get(key) !== ep) throw reestablished('put or get');
    try {
      await op(ep);
    } catch (err) {
      throw storageUnreachable(err);
    }
  }

  private watch(endpoint: Endpoint, dataEndpoint: Endpoint): void {
    for (const ep of new Set([endpoint, dataEndpoint])) ep.once('close', (reason: string) => this.lost(ep, reason));
  }

  /** An endpoint went away: fail what waits on it and re-establish both. */
  private lost(ep: Endpoint, reason: string): void {
    if (this.closed || (ep !== this.brokerEndpoint && ep !== this.storageEndpoint)) return;
    this.failAll(new RdmqError(`fast-path connection lost: ${reason}`, 7, 'REQUEST_TIMED_OUT', true));
    this.reconnecting ??= this.reconnect().finally(() => (this.reconnecting = undefined));
  }

  private async reconnect(): Promise<void> {
    for (let delayMs = RECONNECT_DELAY_MS_MIN; !this.closed; delayMs = Math.min(delayMs * 2, RECONNECT_DELAY_MS_MAX)) {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (this.closed) return;
      try {
        const cluster = await unaryCall<ClusterInfo>(this.control, 'getClusterInfo', {}, 5000);
        const fresh = await connectEndpoints(this.transport, cluster);
        if (this.closed) {
          await fresh.endpoint.close();
          await fresh.dataEndpoint.close();
          return;
        }
        const old = [this.brokerEndpoint, this.storageEndpoint];
        // Keys of the old data endpoint are dropped, not destroyed: their endpoint is gone.
        this.keys = new Map();
        this.brokerEndpoint = fresh.endpoint;
        this.storageEndpoint = fresh.dataEndpoint;
        this.clusterInfo = cluster;
        this.generation++;
        this.watch(fresh.endpoint, fresh.dataEndpoint);
        for (const ep of new Set(old)) void ep.close();
        this.emit('reconnected');
        return;
      } catch {
        // The broker or the storage node is not back yet: try again after the delay.
      }
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
    if (this.reconnecting) {
      return Promise.reject(new RdmqError('the fast-path connection is being re-established; retry', KAFKA_STORAGE_ERROR, 'KAFKA_STORAGE_ERROR', true));
    }
    const reqId = this.nextReqId;
    this.nextReqId = this.nextReqId >= 0xffffffff ? 1 : this.nextReqId + 1;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(reqId);
        reject(new RdmqError(`no reply to fast-path request ${reqId} within ${this.requestTimeoutMs} ms`, 7));
      }, this.requestTimeoutMs);
      this.pending.set(reqId, { resolve, reject, timer });
      this.brokerEndpoint.send(id, build(reqId), payload).catch((err: Error) => {
        clearTimeout(timer);
        this.pending.delete(reqId);
        reject(new RdmqError(`fast-path request failed: ${err.message}`, 7, 'REQUEST_TIMED_OUT', true));
      });
    });
  }

  onPush(id: number, fn: (header: Buffer, payload: Buffer) => void): () => void {
    let set = this.pushHandlers.get(id);
    if (!set) this.pushHandlers.set(id, (set = new Set()));
    set.add(fn);
    return () => set!.delete(fn);
  }

  /**
   * The imported key for a segment, importing `packed` the first time and
   * whenever it differs from the one imported (the storage node restarted).
   */
  segmentKey(segmentId: number, access: 'read' | 'read-write', packed?: Buffer): RemoteKey {
    const tag = `${segmentId}:${access}`;
    let entry = this.keys.get(tag);
    if (packed && packed.length > 0 && (!entry || !entry.packed.equals(packed))) {
      if (entry) this.retiredKeys.push(entry.key);
      const key = this.storageEndpoint.importKey(packed);
      this.keyEndpoints.set(key, this.storageEndpoint);
      entry = { packed: Buffer.from(packed), key };
      this.keys.set(tag, entry);
    }
    if (!entry) throw new RdmqError(`no ${access} key for segment ${segmentId} on this connection; stage or subscribe again`, KAFKA_STORAGE_ERROR, 'KAFKA_STORAGE_ERROR', true);
    return entry.key;
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
    const entry = this.keys.get(tag);
    this.keys.delete(tag);
    // A key of a closed endpoint died with it.
    if (entry && this.keyEndpoints.get(entry.key) === this.storageEndpoint && !this.storageEndpoint.closed) entry.key.destroy();
  }

  /** Imported segment keys (for tests and metrics). */
  get importedKeyCount(): number {
    return this.keys.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new RdmqError('connection closed', -1, 'CLOSED', false));
    if (!this.storageEndpoint.closed) {
      for (const { key } of this.keys.values()) key.destroy();
      for (const key of this.retiredKeys) if (this.keyEndpoints.get(key) === this.storageEndpoint) key.destroy();
    }
    this.keys.clear();
    this.retiredKeys.length = 0;
    this.keyHolders.clear();
    await this.brokerEndpoint.close();
    if (this.storageEndpoint !== this.brokerEndpoint) await this.storageEndpoint.close();
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

/** Both endpoints for `cluster`: one to the broker, one to the storage node (the same one when they share a process). */
async function connectEndpoints(transport: Transport, cluster: ClusterInfo): Promise<{ endpoint: Endpoint; dataEndpoint: Endpoint }> {
  const connect = (address: string): Promise<Endpoint> => {
    const at = address.lastIndexOf(':');
    return transport.connect(address.slice(0, at), Number(address.slice(at + 1)));
  };
  const endpoint = await connect(cluster.fastpathAddress);
  const storage = cluster.storageFastpathAddress || cluster.fastpathAddress;
  if (storage === cluster.fastpathAddress) return { endpoint, dataEndpoint: endpoint };
  try {
    return { endpoint, dataEndpoint: await connect(storage) };
  } catch (err) {
    await endpoint.close();
    throw err;
  }
}

/** Work begun on an endpoint that has since been replaced: the caller starts over (stage, subscribe) on the new one. */
function reestablished(what: string): RdmqError {
  return new RdmqError(`the storage connection was re-established since this ${what} began; stage or read again`, KAFKA_STORAGE_ERROR, 'KAFKA_STORAGE_ERROR', true);
}

/** A put, get or flush that failed in the transport: the storage node is gone or going. */
function storageUnreachable(err: unknown): RdmqError {
  if (err instanceof RdmqError) return err;
  return new RdmqError(`storage node unreachable: ${(err as Error).message}`, KAFKA_STORAGE_ERROR, 'KAFKA_STORAGE_ERROR', true);
}

function unaryCall<T>(client: grpc.Client, method: string, request: object, deadlineMs = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, (req: object, opts: grpc.CallOptions, cb: grpc.requestCallback<T>) => void>)[method];
    fn.call(client, request, { deadline: Date.now() + deadlineMs }, (err, value) => {
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
