// A client's links to the storage nodes that hold its segments' copies: one
// data connection (data-link.ts) per storage address, connected on first use,
// and the grants of each segment's replicas, used on the link of their address.
//
// The broker lists a segment's replicas (node, address, grant) once per
// segment and access; the list is kept here by (segment, access). A grant is
// opaque here: the storage node checks it on every put and get, so nothing
// this client does with it can reach more than the broker granted. Losing one storage node's endpoint fails only the puts
// and gets waiting on it (retriable) and drops the keys imported there; the
// next use of that address connects again, after a backoff that grows while
// the node stays unreachable. Endpoints to other nodes are untouched.
//
// A key listed before its node's endpoint was lost is never used again: the
// node may have restarted, and a key of a process that is gone must not
// reach whatever the new one has registered. Readers pass over such a copy
// (a new subscription brings fresh keys); a write fails retriably, and when
// the broker has not listed the copies anew a while after the loss, asks for
// a new broker session (`onStaleWriteKey`), which sends every key anew.
//
// Contract: single-threaded (JS); every method may be called concurrently.
import { ReplicaKey } from '../format/fastpath-wire';
import { DataLink, DataRefusedError } from './data-link';
import { RdmqError } from './errors';

export type SegmentAccess = 'read' | 'read-write';

/** One copy of a segment: the storage node and its fast-path address. */
export interface SegmentReplica {
  node: string;
  address: string;
}

/** Where a put went: its completion at the storage node is confirmed by flushing this endpoint. */
export interface PutReceipt {
  replica: SegmentReplica;
  endpoint: DataLink;
}

interface Link {
  address: string;
  endpoint: DataLink | undefined;
  connecting: Promise<DataLink> | undefined;
  /** No new connect before this time (ms since epoch): the node was just lost or refused. */
  retryAt: number;
  retryDelayMs: number;
}

/** A copy as the broker listed it; `staleSinceMs` once its node's endpoint was lost after the listing. */
interface ListedCopy extends ReplicaKey {
  staleSinceMs?: number;
}

interface ImportedKey {
  packed: Buffer;
  key: Buffer;
  endpoint: DataLink;
}

const KAFKA_STORAGE_ERROR = 56;
const RECONNECT_DELAY_MS_MIN = 100;
const RECONNECT_DELAY_MS_MAX = 2000;

export class StorageLinks {
  private readonly links = new Map<string, Link>();
  /** Each segment's copies as the broker last listed them, by `segment:access`. */
  private readonly replicaSets = new Map<string, ListedCopy[]>();
  /** Keys imported, by `address|segment:access`; each is used only on its endpoint. */
  private readonly imported = new Map<string, ImportedKey>();
  /** Keys replaced while their endpoint lives: a put may still use them, so they are destroyed on close. */
  private readonly retired: ImportedKey[] = [];
  /** Holders of each counted replica set (retain); its keys are destroyed when the last lets go. */
  private readonly holders = new Map<string, number>();
  private readonly readBytes = new Map<string, number>();
  private readonly readBytesAt = new Map<string, number>();
  private closed = false;

  constructor(
    /** A write needs a copy whose key went stale at `staleSinceMs` (the broker sends a segment's keys once per session). */
    private readonly onStaleWriteKey: (staleSinceMs: number) => void,
  ) {}

  /**
   * Records the replicas the broker listed for a segment (replacing an older
   * list) and returns them; without `replicas`, the list known. Throws a
   * retriable error when none is known (stage or subscribe again).
   */
  replicas(segmentId: number, access: SegmentAccess, replicas?: readonly ReplicaKey[]): SegmentReplica[] {
    const tag = `${segmentId}:${access}`;
    if (replicas && replicas.length > 0) this.replace(tag, replicas);
    const known = this.replicaSets.get(tag);
    if (!known) throw new RdmqError(`no ${access} key for segment ${segmentId} on this connection; stage or subscribe again`, KAFKA_STORAGE_ERROR, 'KAFKA_STORAGE_ERROR', true);
    return known.map(({ node, address }) => ({ node, address }));
  }

  /** The copies known for a segment with their packed keys (to pass on, or to list another copy beside them). */
  replicaKeys(segmentId: number, access: SegmentAccess): ReplicaKey[] {
    return (this.replicaSets.get(`${segmentId}:${access}`) ?? []).filter((r) => r.staleSinceMs === undefined).map((r) => ({ node: r.node, address: r.address, key: Buffer.from(r.key) }));
  }

  /** `replicas` for a holder that lets go again (`release`), so long-running readers keep no key per segment ever read. */
  retain(segmentId: number, access: SegmentAccess, replicas: readonly ReplicaKey[]): SegmentReplica[] {
    const list = this.replicas(segmentId, access, replicas);
    const tag = `${segmentId}:${access}`;
    this.holders.set(tag, (this.holders.get(tag) ?? 0) + 1);
    return list;
  }

  /** Lets go of a retained segment; the last holder destroys its keys. No put or get with them may be in flight. */
  release(segmentId: number, access: SegmentAccess): void {
    const tag = `${segmentId}:${access}`;
    const holders = this.holders.get(tag);
    if (holders === undefined) return;
    if (holders > 1) {
      this.holders.set(tag, holders - 1);
      return;
    }
    this.holders.delete(tag);
    for (const r of this.replicaSets.get(tag) ?? []) this.destroy(`${r.address}|${tag}`);
    this.replicaSets.delete(tag);
  }

  /** Forgets every list and key (a new broker session sends them all again). */
  forgetAll(): void {
    for (const entry of this.imported.values()) if (!entry.endpoint.closed) this.retired.push(entry);
    this.imported.clear();
    this.replicaSets.clear();
  }

  /** The key of `replica`'s copy of a segment, imported on its endpoint. */
  async key(replica: SegmentReplica, segmentId: number, access: SegmentAccess): Promise<{ key: Buffer; endpoint: DataLink }> {
    const endpoint = await this.endpoint(replica.address);
    const tag = `${segmentId}:${access}`;
    const listed = this.replicaSets.get(tag)?.find((r) => r.address === replica.address);
    if (!listed) throw new RdmqError(`no ${access} key for segment ${segmentId} at ${replica.address}; stage or subscribe again`, KAFKA_STORAGE_ERROR, 'KAFKA_STORAGE_ERROR', true);
    if (listed.staleSinceMs !== undefined) {
      if (access === 'read-write') this.onStaleWriteKey(listed.staleSinceMs);
      throw new RdmqError(
        `the ${access} key of segment ${segmentId} at ${replica.address} was given before the connection to that storage node was lost; ${access === 'read' ? 'subscribe' : 'stage'} again for a fresh one`,
        KAFKA_STORAGE_ERROR,
        'KAFKA_STORAGE_ERROR',
        true,
      );
    }
    const id = `${replica.address}|${tag}`;
    let entry = this.imported.get(id);
    if (entry && (entry.endpoint !== endpoint || !entry.packed.equals(listed.key))) {
      // A key of a lost endpoint died with it; one replaced on a live endpoint may still serve a put.
      if (!entry.endpoint.closed) this.retired.push(entry);
      entry = undefined;
    }
    if (!entry) {
      entry = { packed: listed.key, key: listed.key, endpoint };
      this.imported.set(id, entry);
    }
    return entry;
  }

  /** Puts `local` into one copy of a segment. */
  async put(replica: SegmentReplica, segmentId: number, local: Uint8Array, remoteOffset: number): Promise<PutReceipt> {
    const { key, endpoint } = await this.key(replica, segmentId, 'read-write');
    try {
      await endpoint.put(key, remoteOffset, local);
    } catch (err) {
      throw unreachable(replica, err);
    }
    return { replica, endpoint };
  }

  /**
   * Puts `local` into every copy listed, in parallel; resolves once all are
   * complete locally, or fails with the first failure once none is in flight
   * any more (the caller may reuse `local` as soon as this settles).
   */
  async putAll(replicas: readonly SegmentReplica[], segmentId: number, local: Uint8Array, remoteOffset: number): Promise<PutReceipt[]> {
    const settled = await Promise.allSettled(replicas.map((r) => this.put(r, segmentId, local, remoteOffset)));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    return settled.map((s) => (s as PromiseFulfilledResult<PutReceipt>).value);
  }

  /** Resolves once every put behind `receipts` is complete at its storage node; fails if an endpoint was lost since. */
  async flush(receipts: readonly PutReceipt[]): Promise<void> {
    const endpoints = new Map<DataLink, SegmentReplica>();
    for (const r of receipts) endpoints.set(r.endpoint, r.replica);
    await Promise.all(
      [...endpoints].map(async ([endpoint, replica]) => {
        if (endpoint.closed) {
          throw new RdmqError(`the endpoint to storage node ${replica.node} at ${replica.address} was lost after the put; stage again`, KAFKA_STORAGE_ERROR, 'KAFKA_STORAGE_ERROR', true);
        }
        try {
          await endpoint.flush();
        } catch (err) {
          throw unreachable(replica, err);
        }
      }),
    );
  }

  /** Gets from one copy of a segment and counts the bytes against its node. */
  async get(replica: SegmentReplica, segmentId: number, local: Uint8Array, remoteOffset: number): Promise<void> {
    const { key, endpoint } = await this.key(replica, segmentId, 'read');
    try {
      await endpoint.get(key, remoteOffset, local);
    } catch (err) {
      throw unreachable(replica, err);
    }
    this.readBytes.set(replica.node, (this.readBytes.get(replica.node) ?? 0) + local.length);
    this.readBytesAt.set(replica.address, (this.readBytesAt.get(replica.address) ?? 0) + local.length);
  }

  /**
   * Gets from the copy `preferred % n` of a segment, and when that fails from
   * the next one, and so on; fails (retriable) only once every copy failed.
   */
  async getAny(segmentId: number, preferred: number, local: Uint8Array, remoteOffset: number): Promise<void> {
    const replicas = this.replicas(segmentId, 'read');
    let last: unknown;
    for (let i = 0; i < replicas.length; i++) {
      const replica = replicas[(preferred + i) % replicas.length];
      try {
        await this.get(replica, segmentId, local, remoteOffset);
        return;
      } catch (err) {
        if (this.closed || (err instanceof RdmqError && !err.retriable)) throw err;
        last = err;
      }
    }
    throw last;
  }

  /** Whether a get of the segment from copy `preferred % n` would be a direct call into a node of this process. */
  readsInProcess(segmentId: number, preferred: number): boolean {
    const replicas = this.replicaSets.get(`${segmentId}:read`);
    if (!replicas || replicas.length === 0) return false;
    return this.links.get(replicas[preferred % replicas.length].address)?.endpoint?.readsInProcess ?? false;
  }

  /** Keys imported and not yet let go (for tests and metrics). */
  get importedKeyCount(): number {
    return this.imported.size;
  }

  /** Bytes read so far from each storage node, by node id. */
  readBytesByNode(): Map<string, number> {
    return new Map(this.readBytes);
  }

  /** The same, by each storage node's fast-path address (HOST:PORT), the name an operator knows it by. */
  readBytesByAddress(): Map<string, number> {
    return new Map(this.readBytesAt);
  }

  /** The endpoint to a storage address, connecting on first use and after a loss (not before its backoff ends). */
  endpoint(address: string): Promise<DataLink> {
    if (this.closed) return Promise.reject(new RdmqError('connection is closed', -1, 'CLOSED', false));
    let link = this.links.get(address);
    if (!link) this.links.set(address, (link = { address, endpoint: undefined, connecting: undefined, retryAt: 0, retryDelayMs: RECONNECT_DELAY_MS_MIN }));
    if (link.endpoint && !link.endpoint.closed) return Promise.resolve(link.endpoint);
    if (link.connecting) return link.connecting;
    const waitMs = link.retryAt - Date.now();
    if (waitMs > 0) {
      return Promise.reject(new RdmqError(`storage node at ${address} is unreachable; next attempt in ${waitMs} ms`, KAFKA_STORAGE_ERROR, 'KAFKA_STORAGE_ERROR', true));
    }
    const current = link;
    current.connecting = this.connect(address, current).finally(() => (current.connecting = undefined));
    return current.connecting;
  }

  /** Destroys the keys of live endpoints and closes every storage endpoint (not a shared one). */
  async close(): Promise<void> {
    this.closed = true;
    this.imported.clear();
    this.retired.length = 0;
    this.replicaSets.clear();
    this.holders.clear();
    await Promise.all([...this.links.values()].map((l) => l.endpoint?.close()));
    await Promise.all([...this.links.values()].map((l) => l.connecting?.then((ep) => ep.close()).catch(() => undefined)));
    this.links.clear();
  }

  private async connect(address: string, link: Link): Promise<DataLink> {
    let endpoint: DataLink;
    try {
      endpoint = await DataLink.connect(address);
    } catch (err) {
      this.backOff(link);
      throw new RdmqError(`storage node at ${address} is unreachable: ${(err as Error).message}`, KAFKA_STORAGE_ERROR, 'KAFKA_STORAGE_ERROR', true);
    }
    if (this.closed) {
      await endpoint.close();
      throw new RdmqError('connection is closed', -1, 'CLOSED', false);
    }
    link.endpoint = endpoint;
    link.retryAt = 0;
    link.retryDelayMs = RECONNECT_DELAY_MS_MIN;
    endpoint.once('close', () => this.lost(link, endpoint));
    return endpoint;
  }

  /** A storage endpoint went away: its keys died with it; the next use reconnects after the backoff. */
  private lost(link: Link, endpoint: DataLink): void {
    if (link.endpoint !== endpoint) return;
    link.endpoint = undefined;
    for (const [id, entry] of this.imported) if (entry.endpoint === endpoint) this.imported.delete(id);
    const now = Date.now();
    for (const copies of this.replicaSets.values()) for (const c of copies) if (c.address === link.address) c.staleSinceMs ??= now;
    if (!this.closed) this.backOff(link);
  }

  private backOff(link: Link): void {
    link.retryAt = Date.now() + link.retryDelayMs;
    link.retryDelayMs = Math.min(link.retryDelayMs * 2, RECONNECT_DELAY_MS_MAX);
  }

  private replace(tag: string, replicas: readonly ReplicaKey[]): void {
    const old = this.replicaSets.get(tag);
    // Keys of copies no longer listed are let go; changed keys are replaced on next use.
    for (const r of old ?? []) if (!replicas.some((n) => n.address === r.address)) this.retire(`${r.address}|${tag}`);
    this.replicaSets.set(tag, replicas.map((r) => ({ node: r.node, address: r.address, key: Buffer.from(r.key) })));
  }

  /** Sets an imported key aside, to be destroyed on close: a put may still use it. */
  private retire(id: string): void {
    const entry = this.imported.get(id);
    if (!entry) return;
    this.imported.delete(id);
    if (!entry.endpoint.closed) this.retired.push(entry);
  }

  /** Destroys an imported key no put or get uses any more. */
  private destroy(id: string): void {
    const entry = this.imported.get(id);
    if (!entry) return;
    this.imported.delete(id);
  }
}

const KAFKA_TOPIC_AUTHORIZATION_FAILED = 29;

/**
 * A put, get or flush that failed: refused by the storage node (outside the
 * grant: never retried; a grant revoked or not valid any more: stage or
 * subscribe again), or lost in the transport (that storage node is gone or going).
 */
function unreachable(replica: SegmentReplica, err: unknown): RdmqError {
  if (err instanceof RdmqError) return err;
  if (err instanceof DataRefusedError) {
    const message = `storage node ${replica.node} at ${replica.address} refused: ${err.code}: ${err.message}`;
    if (err.code === 'ACCESS_DENIED') return new RdmqError(message, KAFKA_TOPIC_AUTHORIZATION_FAILED, 'TOPIC_AUTHORIZATION_FAILED', false);
    return new RdmqError(message, KAFKA_STORAGE_ERROR, 'KAFKA_STORAGE_ERROR', true);
  }
  return new RdmqError(`storage node ${replica.node} at ${replica.address} unreachable: ${(err as Error).message}`, KAFKA_STORAGE_ERROR, 'KAFKA_STORAGE_ERROR', true);
}
