// One client's link to an rdmq cluster: the broker's gRPC control plane, a
// UCX endpoint to the broker for two-sided control messages, and one UCX
// endpoint per storage node holding a copy of its segments, for one-sided
// puts and gets (storage-links.ts; the broker's endpoint serves when a
// storage node shares its process). Producers and consumers created from
// the same client share it.
//
// When the broker's endpoint is lost, the connection re-establishes it by
// itself, with backoff: requests in flight fail with a retriable error, every
// segment key is dropped (a new broker session sends them all anew), and
// 'reconnected' tells producers and consumers to start over from what they
// know (cursors, read positions). Losing one storage node's endpoint fails
// only the puts and gets on it (retriable); the next use connects again.
import * as grpc from '@grpc/grpc-js';
import { channelCredentials, controlPlaneSecurity, fastPathMemberMethod, memberClientOptions, proveMembership } from '../control-plane';
import { EventEmitter } from 'events';
import { setTimeout as delay } from 'timers/promises';
import { Endpoint, Transport } from '../addon';
import { DataLink } from './data-link';
import { brokerService, ClusterInfo, ERROR_METADATA_KEY, LEADER_METADATA_KEY } from '../broker';
import { AuthenticateReplyBody, decodeJson, decodeReplicaKeys, encodeJson, FastPathMessage, ReplicaKey } from '../format/fastpath-wire';
import { authenticate, AuthenticationOptions, SaslOptions } from './authentication';
import { RdmqError } from './errors';
import { PutReceipt, SegmentAccess, SegmentReplica, StorageLinks } from './storage-links';
import { markPublish, publishTraceOn } from '../format/publish-trace';

export { PutReceipt, SegmentAccess, SegmentReplica };

export interface ConnectionOptions {
  /** Broker control address, HOST:PORT (default 127.0.0.1:7400); several (an HA group) as 'A,B' or an array. */
  control?: string | string[];
  /** How long `open` looks for a leader among several control addresses (default 30 s). */
  leaderWaitMs?: number;
  /** Aborting it ends `open`'s search for a leader at once, with the signal's reason. */
  signal?: AbortSignal;
  /** Milliseconds before a fast-path request without reply fails (default 30 s). */
  requestTimeoutMs?: number;
  /** Authenticate as a user (the Kafka door's users) before anything else; anonymous (User:ANONYMOUS) when absent. */
  sasl?: SaslOptions;
  /** A cluster member's token instead of a user (the gateway in the broker's process). */
  clusterToken?: Buffer;
  /**
   * When the broker runs in this process (the gateway of `rdmq start`), hand
   * its control messages over directly instead of through UCX (default true;
   * see Transport.connect). The messages, the session and its checks are the same.
   */
  inProcess?: boolean;
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
/**
 * How long writes fail on a copy whose node was lost (its key may be of a
 * process that is gone) before the connection asks the broker for a new
 * session and so for every key anew; the broker normally lists the copies
 * anew sooner (fewer in-sync replicas, or the node's new keys).
 */
const STALE_KEY_RENEW_MS = 3000;

const REPLY_IDS = [
  FastPathMessage.STAGE_REPLY,
  FastPathMessage.COMMIT_REPLY,
  FastPathMessage.ACQUIRE_REPLY,
  FastPathMessage.SUBSCRIBE_REPLY,
  FastPathMessage.LOCATE_REPLY,
  FastPathMessage.AUTHENTICATE_REPLY,
];

export class Connection extends EventEmitter {
  private readonly pending = new Map<number, Pending>();
  /** Endpoints to the storage nodes and the segment keys imported on them. */
  private readonly storage: StorageLinks;
  /** Turns of readers that have no reader index from the broker (readerTurn). */
  private nextReaderTurn = 0;
  /** Open PartitionViews by "topicId:partition": the broker keeps one subscription per connection and partition. */
  private readonly openViews = new Map<string, number>();
  private nextReqId = 1;
  private closed = false;
  private reconnecting: Promise<void> | undefined;
  private pushHandlers = new Map<number, Set<(header: Buffer, payload: Buffer) => void>>();
  /** Counts re-established endpoints: work begun under an older generation cannot be finished. */
  generation = 0;
  private leaderCheck: NodeJS.Timeout | undefined;
  private leaderChecking = false;
  private leaderMisses = 0;
  /** Who the broker knows this connection as (User:<name>, User:ANONYMOUS). */
  principal = 'User:ANONYMOUS';

  private constructor(
    private controlClient: grpc.Client,
    private controlAt: string,
    private readonly controlAddresses: string[],
    readonly transport: Transport,
    /** To the broker: two-sided control messages. */
    private brokerEndpoint: Endpoint,
    private clusterInfo: ClusterInfo,
    private readonly requestTimeoutMs: number,
    private readonly identity: AuthenticationOptions = {},
    /** ConnectionOptions.inProcess, for reconnects too. */
    private readonly inProcess = true,
  ) {
    super();
    // Every producer, consumer and reader pool on this connection listens for 'reconnected'.
    this.setMaxListeners(0);
    for (const id of REPLY_IDS) transport.onMessage(id, (_ep, header, payload) => this.onReply(header, payload));
    for (const id of [FastPathMessage.WATERMARK, FastPathMessage.SEGMENT]) {
      transport.onMessage(id, (_ep, header, payload) => this.pushHandlers.get(id)?.forEach((fn) => fn(header, payload)));
    }
    this.storage = new StorageLinks(
      (staleSinceMs) => {
        if (Date.now() - staleSinceMs >= STALE_KEY_RENEW_MS) this.renewSession();
      },
    );
    this.watch(brokerEndpoint);
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
    const leader = await findLeader(addresses, options.leaderWaitMs ?? (addresses.length > 1 ? LEADER_WAIT_MS_DEFAULT : 0), options.signal).catch((err: unknown) => {
      if (err instanceof RdmqError && err.retriable && err.type !== 'NOT_LEADER') {
        throw new RdmqError(`no rdmq broker answers at ${addresses.join(', ')} (is rdmq running there?)`, 15, 'COORDINATOR_NOT_AVAILABLE', true);
      }
      throw err;
    });
    const transport = new Transport();
    const inProcess = options.inProcess ?? true;
    try {
      const endpoint = await connectTo(transport, leader.cluster.fastpathAddress, inProcess);
      const identity = { sasl: options.sasl, clusterToken: options.clusterToken };
      const connection = new Connection(leader.client, leader.address, addresses, transport, endpoint, leader.cluster, options.requestTimeoutMs ?? 30_000, identity, inProcess);
      try {
        await connection.authenticateOn(endpoint);
      } catch (err) {
        await connection.close();
        throw err;
      }
      return connection;
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

  get cluster(): ClusterInfo {
    return this.clusterInfo;
  }

  /** The data link to a storage node's fast-path address (HOST:PORT), connected on first use. */
  storageEndpoint(address: string): Promise<DataLink> {
    return this.storage.endpoint(address);
  }

  /**
   * A segment's copies. `replicaKeys` is the payload of a STAGE_REPLY or
   * ACQUIRE_REPLY (encodeReplicaKeys; empty when this client already has
   * them), or the copies of an announcement, and replaces the copies known;
   * without it, the copies known.
   */
  segmentReplicas(segmentId: number, access: SegmentAccess, replicaKeys?: Buffer | readonly ReplicaKey[]): SegmentReplica[] {
    const listed = Buffer.isBuffer(replicaKeys) ? (replicaKeys.length > 0 ? decodeReplicaKeys(replicaKeys) : undefined) : replicaKeys;
    return this.storage.replicas(segmentId, access, listed);
  }

  /** The copies known for a segment, with their packed keys. */
  segmentReplicaKeys(segmentId: number, access: SegmentAccess): ReplicaKey[] {
    return this.storage.replicaKeys(segmentId, access);
  }

  /**
   * `segmentReplicas` for a holder that lets go of them again (a partition
   * view for each segment it reads): their keys are destroyed once the last
   * holder releases them, so a long-running reader does not keep one imported
   * key per segment it ever read. The caller must have no get in flight with
   * the keys when it releases.
   */
  retainSegmentKey(segmentId: number, access: SegmentAccess, replicas: readonly ReplicaKey[]): SegmentReplica[] {
    return this.storage.retain(segmentId, access, replicas);
  }

  releaseSegmentKey(segmentId: number, access: SegmentAccess): void {
    this.storage.release(segmentId, access);
  }

  /** The grant of one copy of a segment (for tests and tools). */
  async segmentKey(replica: SegmentReplica, segmentId: number, access: SegmentAccess): Promise<Buffer> {
    return (await this.storage.key(replica, segmentId, access)).key;
  }

  /** Puts `local` into every copy listed, in parallel; settles once none is in flight (see StorageLinks.putAll). */
  putAll(replicas: readonly SegmentReplica[], segmentId: number, local: Uint8Array, remoteOffset: number): Promise<PutReceipt[]> {
    return this.storage.putAll(replicas, segmentId, local, remoteOffset);
  }

  /**
   * Resolves once every put behind `receipts` is complete at its storage
   * node; fails (retriable) if an endpoint they used was lost since, or the
   * broker session changed since `generation` (its stages are gone).
   */
  async flush(receipts: readonly PutReceipt[], generation = this.generation): Promise<void> {
    if (generation !== this.generation) throw reestablished('flush');
    await this.storage.flush(receipts);
  }

  /** Reads from copy `preferred % n` of a segment, moving on to the next copy when one fails. */
  get(segmentId: number, preferred: number, local: Uint8Array, remoteOffset: number): Promise<void> {
    return this.storage.getAny(segmentId, preferred, local, remoteOffset);
  }

  /** Whether `get` of the segment from copy `preferred % n` is a direct call into a storage node of this process (no read worth doing ahead). */
  readsInProcess(segmentId: number, preferred: number): boolean {
    return this.storage.readsInProcess(segmentId, preferred);
  }

  /** Bytes read so far from each storage node (by node id), for metrics and `rdmq bench`. */
  readBytesByNode(): Map<string, number> {
    return this.storage.readBytesByNode();
  }

  /** Bytes read so far from each storage node, by its fast-path address. */
  readBytesByAddress(): Map<string, number> {
    return this.storage.readBytesByAddress();
  }

  /** Segment keys imported and not yet let go (for tests and metrics). */
  get importedKeyCount(): number {
    return this.storage.importedKeyCount;
  }

  /** A PartitionView of the partition opened on this connection. */
  viewOpened(topicId: number, partition: number): void {
    const key = `${topicId}:${partition}`;
    this.openViews.set(key, (this.openViews.get(key) ?? 0) + 1);
  }

  /**
   * A PartitionView of the partition closed; true when it was the last one on
   * this connection, so the subscription may end (the broker's subscription is
   * the connection's, shared by every view of the partition on it).
   */
  viewClosed(topicId: number, partition: number): boolean {
    const key = `${topicId}:${partition}`;
    const left = (this.openViews.get(key) ?? 1) - 1;
    if (left > 0) this.openViews.set(key, left);
    else this.openViews.delete(key);
    return left <= 0;
  }

  /** A reader's turn on this connection, for readers the broker gave no reader index: they take turns over the copies. */
  readerTurn(): number {
    return this.nextReaderTurn++;
  }

  private watch(endpoint: Endpoint): void {
    endpoint.once('close', (reason: string) => this.lost(endpoint, reason));
  }

  /**
   * A new broker session, which sends every segment key anew: for a write
   * that needs the key of a storage node lost since this session got it.
   */
  private renewSession(): void {
    if (this.closed || this.reconnecting) return;
    void this.brokerEndpoint.close();
  }

  /** The broker's endpoint went away: fail what waits on it and re-establish it. */
  private lost(ep: Endpoint, reason: string): void {
    if (this.closed || ep !== this.brokerEndpoint) return;
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
        const fresh = await connectTo(this.transport, cluster.fastpathAddress, this.inProcess).catch((err: Error) => {
          if (leader.client !== this.controlClient) leader.client.close();
          throw err;
        });
        if (!this.closed) {
          // A new broker session is anonymous until it authenticates again.
          await this.authenticateOn(fresh, cluster).catch(async (err: Error) => {
            await fresh.close();
            if (leader.client !== this.controlClient) leader.client.close();
            throw err;
          });
        }
        if (this.closed) {
          await fresh.close();
          if (leader.client !== this.controlClient) leader.client.close();
          return;
        }
        if (leader.client !== this.controlClient) {
          this.controlClient.close();
          this.controlClient = leader.client;
          this.controlAt = leader.address;
        }
        const old = this.brokerEndpoint;
        // The new broker session sends every key anew.
        this.storage.forgetAll();
        this.brokerEndpoint = fresh;
        this.clusterInfo = cluster;
        this.generation++;
        this.watch(fresh);
        void old.close();
        this.emit('reconnected');
        return;
      } catch {
        // The broker is not back yet: try again after the delay.
      }
    }
  }

  /** Calls a unary method of the broker's gRPC service (deadline 30 s unless given); a NOT_LEADER answer sends the connection to find the leader. */
  call<T>(method: string, request: object, deadlineMs?: number): Promise<T> {
    return unaryCall<T>(this.controlClient, method, request, deadlineMs).catch((err: unknown) => {
      if (err instanceof RdmqError && err.type === 'NOT_LEADER') this.followLeader('the broker is no longer the leader');
      throw err;
    });
  }

  describeTopic(name: string): Promise<TopicInfo> {
    return this.call<TopicInfo>('describeTopic', { name });
  }

  /** The SASL exchange (or cluster token) on a new broker endpoint, before anything else is sent on it. */
  private async authenticateOn(endpoint: Endpoint, cluster: ClusterInfo = this.clusterInfo): Promise<void> {
    const send = async (mechanism: string, authBytes: Buffer): Promise<AuthenticateReplyBody> => {
      const reply = await this.requestOn(endpoint, FastPathMessage.AUTHENTICATE, (reqId) => encodeJson(reqId, { mechanism, authBytes: authBytes.toString('base64') }));
      return decodeJson<AuthenticateReplyBody>(reply.header, 'AUTHENTICATE_REPLY').body;
    };
    // A process holding the cluster secret proved it with MEMBER (connectTo): the broker admits it without SASL.
    const member = controlPlaneSecurity().clusterSecret !== undefined;
    this.principal = await authenticate(send, this.identity, cluster.authenticationRequired === true && !member);
  }

  /** Sends a fast-path request whose header starts with the u32 request id `build` is given. */
  request(id: number, build: (reqId: number) => Buffer, payload?: Buffer): Promise<{ header: Buffer; payload: Buffer }> {
    if (this.closed) return Promise.reject(new RdmqError('connection is closed', -1, 'CLOSED', false));
    if (this.reconnecting) {
      return Promise.reject(new RdmqError('the fast-path connection is being re-established; retry', KAFKA_STORAGE_ERROR, 'KAFKA_STORAGE_ERROR', true));
    }
    return this.requestOn(this.brokerEndpoint, id, build, payload);
  }

  private requestOn(endpoint: Endpoint, id: number, build: (reqId: number) => Buffer, payload?: Buffer): Promise<{ header: Buffer; payload: Buffer }> {
    const reqId = this.nextReqId;
    this.nextReqId = this.nextReqId >= 0xffffffff ? 1 : this.nextReqId + 1;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(reqId);
        reject(new RdmqError(`no reply to fast-path request ${reqId} within ${this.requestTimeoutMs} ms`, 7));
      }, this.requestTimeoutMs);
      this.pending.set(reqId, { resolve, reject, timer });
      endpoint.send(id, build(reqId), payload).catch((err: Error) => {
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

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.leaderCheck);
    this.failAll(new RdmqError('connection closed', -1, 'CLOSED', false));
    await this.storage.close();
    await this.brokerEndpoint.close();
    this.transport.close();
    this.controlClient.close();
  }

  private onReply(header: Buffer, payload: Buffer): void {
    if (publishTraceOn) markPublish('reply-arrived');
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

async function connectTo(transport: Transport, address: string, inProcess = true): Promise<Endpoint> {
  const at = address.lastIndexOf(':');
  const endpoint = await transport.connect(address.slice(0, at), Number(address.slice(at + 1)), { inProcess });
  // A member (a gateway, the CLI) proves the cluster secret first on the connection: the broker then trusts it as the cluster.
  const secret = controlPlaneSecurity().clusterSecret;
  if (secret) {
    const proof = proveMembership(secret, fastPathMemberMethod(endpoint.remoteId, endpoint.localId));
    await endpoint.send(FastPathMessage.MEMBER, encodeJson(0, { proof }));
  }
  return endpoint;
}

/** Work begun on an endpoint that has since been replaced: the caller starts over (stage, subscribe) on the new one. */
function reestablished(what: string): RdmqError {
  return new RdmqError(`the broker connection was re-established since this ${what} began; stage or read again`, KAFKA_STORAGE_ERROR, 'KAFKA_STORAGE_ERROR', true);
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
  return new Client(address, channelCredentials(), {
    ...memberClientOptions(),
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

/** findLeaderOnce, again with backoff for up to `waitMs` (an election may be under way) or until `signal` aborts. */
async function findLeader(addresses: string[], waitMs: number, signal?: AbortSignal): Promise<FoundLeader> {
  const deadline = Date.now() + waitMs;
  for (let delayMs = RECONNECT_DELAY_MS_MIN; ; delayMs = Math.min(delayMs * 2, RECONNECT_DELAY_MS_MAX)) {
    signal?.throwIfAborted();
    try {
      // One address: as long as any call when opening (a busy broker still answers); several: a dead one must not hold up the search.
      return await findLeaderOnce(addresses, undefined, undefined, addresses.length > 1 ? 5000 : 30_000);
    } catch (err) {
      signal?.throwIfAborted();
      if (Date.now() + delayMs > deadline) throw err;
    }
    // An abort ends the wait at once; the loop then throws its reason.
    await delay(delayMs, undefined, { signal }).catch(() => undefined);
  }
}
