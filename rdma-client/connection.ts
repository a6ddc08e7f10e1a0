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
import { brokerService, ClusterInfo, ERROR_METADATA_KEY, LEADER_METADATA_KEY } from '../broker';
import { FastPathMessage } from '../format/fastpath-wire';
import { RdmqError } from './errors';

export interface ConnectionOptions {
  /** Broker control address, HOST:PORT (default 127.0.0.1:7400); several (an HA group) as 'A,B' or an array. */
  control?: string | string[];
  /** How long `open` looks for a leader among several control addresses (default 30 s). */
  leaderWaitMs?: number;
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
const NOT_LEADER_OR_FOLLOWER = 6;
const LEADER_WAIT_MS_DEFAULT = 30_000;
/**
 * With several control addresses the leader is asked every second whether it
 * still leads: a leader that was paused or cut off keeps its connections open
 * but answers nothing, and its clients must go to the next one by themselves.
 * Two missed answers in a row (or a NOT_LEADER) start the search.
 */
const LEADER_CHECK_MS = 1000;
const LEADER_CHECK_DEADLINE_MS = 2500;
const LEADER_CHECK_MISSES_MAX = 2;

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
  private leaderCheck: NodeJS.Timeout | undefined;
  private leaderChecking = false;
  private leaderMisses = 0;

  private constructor(
    private controlClient: grpc.Client,
    private controlAt: string,
    private readonly controlAddresses: string[],
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
    if (controlAddresses.length > 1) {
      this.leaderCheck = setInterval(() => void this.checkLeader(), LEADER_CHECK_MS);
      this.leaderCheck.unref();
    }
  }

  /** Asks the broker whether it still leads; starts the search for the leader when it does not answer or says no. */
  private async checkLeader(): Promise<void> {
    if (this.leaderChecking || this.reconnecting || this.closed) return;
    this.leaderChecking = true;
    try {
      await unaryCall<ClusterInfo>(this.controlClient, 'getClusterInfo', {}, LEADER_CHECK_DEADLINE_MS);
      this.leaderMisses = 0;
    } catch (err) {
      const deposed = err instanceof RdmqError && err.type === 'NOT_LEADER';
      if (++this.leaderMisses >= LEADER_CHECK_MISSES_MAX || deposed) this.followLeader(deposed ? 'the broker is no longer the leader' : `the leader at ${this.controlAt} does not answer`);
    } finally {
      this.leaderChecking = false;
    }
  }

  /** Fails what waits on the current broker and finds the leader anew. */
  private followLeader(reason: string): void {
    if (this.closed || this.reconnecting) return;
    this.leaderMisses = 0;
    this.failAll(new RdmqError(`${reason}; finding the leader`, NOT_LEADER_OR_FOLLOWER, 'NOT_LEADER', true));
    this.reconnecting ??= this.reconnect().finally(() => (this.reconnecting = undefined));
  }

  static async open(options: ConnectionOptions = {}): Promise<Connection> {
    const addresses = parseControlAddresses(options.control);
    const leader = await findLeader(addresses, options.leaderWaitMs ?? (addresses.length > 1 ? LEADER_WAIT_MS_DEFAULT : 0));
    const transport = new Transport();
    try {
      const { endpoint, dataEndpoint } = await connectEndpoints(transport, leader.cluster);
      return new Connection(leader.client, leader.address, addresses, transport, endpoint, dataEndpoint, leader.cluster, options.requestTimeoutMs ?? 30_000);
    } catch (err) {
      transport.close();
      leader.client.close();
      throw err;
    }
  }

  /** The gRPC client of the broker's control plane (the leader's, in an HA group). Replaced when the leader changes. */
  get control(): grpc.Client {
    return this.controlClient;
  }

  /** The control address of the broker this connection uses now. */
  get controlAddress(): string {
    return this.controlAt;
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

  /** Gets from a segment with a key imported on the current data endpoint. */
  get(local: Uint8Array, key: RemoteKey, remoteOffset: number): Promise<void> {
    return this.onData(key, (ep) => ep.get(local, key, remoteOffset));
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
        const leader = await findLeaderOnce(this.controlAddresses, this.controlAt, this.controlClient);
        const cluster = leader.cluster;
        const fresh = await connectEndpoints(this.transport, cluster).catch((err: Error) => {
          if (leader.client !== this.controlClient) leader.client.close();
          throw err;
        });
        if (this.closed) {
          await fresh.endpoint.close();
          await fresh.dataEndpoint.close();
          if (leader.client !== this.controlClient) leader.client.close();
          return;
        }
        if (leader.client !== this.controlClient) {
          this.controlClient.close();
          this.controlClient = leader.client;
          this.controlAt = leader.address;
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

  /** Calls a unary method of the broker's gRPC service; a NOT_LEADER answer sends the connection to find the leader. */
  call<T>(method: string, request: object): Promise<T> {
    return unaryCall<T>(this.controlClient, method, request).catch((err: unknown) => {
      if (err instanceof RdmqError && err.type === 'NOT_LEADER') this.followLeader('the broker is no longer the leader');
      throw err;
    });
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
    clearInterval(this.leaderCheck);
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
        const code =
          name === 'UNKNOWN_TOPIC_OR_PARTITION' ? 3 : name === 'TOPIC_ALREADY_EXISTS' ? 36 : name === 'NOT_LEADER' ? NOT_LEADER_OR_FOLLOWER : err.code === grpc.status.UNAVAILABLE ? 15 : -1;
        const failure = new RdmqError(err.details || err.message, code, name ? String(name) : undefined, err.code === grpc.status.UNAVAILABLE);
        const leader = err.metadata?.get(LEADER_METADATA_KEY)[0];
        if (leader) (failure as RdmqError & { leader?: string }).leader = String(leader);
        reject(failure);
      } else {
        resolve(value as T);
      }
    });
  });
}

/** 'A,B', ['A', 'B'] or nothing (the local default) as a list of HOST:PORT. */
export function parseControlAddresses(control: string | string[] | undefined): string[] {
  const list = (Array.isArray(control) ? control : (control ?? '127.0.0.1:7400').split(',')).map((a) => a.trim()).filter((a) => a.length > 0);
  if (list.length === 0) throw new RdmqError(`no broker control address in ${JSON.stringify(control)}`, -1, 'INVALID_CONFIG', false);
  return [...new Set(list)];
}

function newControlClient(address: string): grpc.Client {
  const Client = brokerService();
  // A restarted broker is found again within a couple of seconds, not after gRPC's default backoff of up to 2 minutes.
  return new Client(address, grpc.credentials.createInsecure(), {
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 2000,
  });
}

interface FoundLeader {
  address: string;
  client: grpc.Client;
  cluster: ClusterInfo;
}

/**
 * Asks each control address (the current one first, reusing its client)
 * until one answers as the leader; a NOT_LEADER answer naming the leader
 * sends the next question there. Throws the last error when none leads.
 */
async function findLeaderOnce(addresses: string[], current?: string, currentClient?: grpc.Client, deadlineMs = 5000): Promise<FoundLeader> {
  const queue = current ? [current, ...addresses.filter((a) => a !== current)] : [...addresses];
  const asked = new Set<string>();
  let lastError: unknown;
  while (queue.length > 0) {
    const address = queue.shift()!;
    if (asked.has(address)) continue;
    asked.add(address);
    const client = address === current && currentClient ? currentClient : newControlClient(address);
    try {
      const cluster = await unaryCall<ClusterInfo>(client, 'getClusterInfo', {}, deadlineMs);
      return { address, client, cluster };
    } catch (err) {
      if (client !== currentClient) client.close();
      lastError = err;
      const leader = (err as { leader?: string }).leader;
      if (leader && !asked.has(leader)) queue.unshift(leader);
    }
  }
  throw lastError;
}

/** findLeaderOnce, again with backoff for up to `waitMs` (an election may be under way). */
async function findLeader(addresses: string[], waitMs: number): Promise<FoundLeader> {
  const deadline = Date.now() + waitMs;
  for (let delayMs = RECONNECT_DELAY_MS_MIN; ; delayMs = Math.min(delayMs * 2, RECONNECT_DELAY_MS_MAX)) {
    try {
      // One address: as long as any call when opening (a busy broker still answers); several: a dead one must not hold up the search.
      return await findLeaderOnce(addresses, undefined, undefined, addresses.length > 1 ? 5000 : 30_000);
    } catch (err) {
      if (Date.now() + delayMs > deadline) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
}
