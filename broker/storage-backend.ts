// What the broker needs from a storage node, whether it runs in this process
// (EmbeddedStorage) or in its own (RemoteStorage, over the node's gRPC
// service). Segment keys pass through the broker, which hands each only to
// the clients it granted that segment to.
import type { ProducerScan } from '../format';
import type { ReplicaKey } from '../format/fastpath-wire';
import { AllocateRequest, applyCommitStep, CommitRequest, ExpectedBatches, FencedRange, RangeCheck, RecoveryReport, SegmentDescriptor, steppedSegment, StorageClient, StorageError, StorageNode, StorageUsage } from '../storage-node';

/** What the storage node's recovery found damaged: fenced ranges not yet skipped, and unreadable slots. */
export interface StorageDamage {
  ranges: FencedRange[];
  unreadableSlots: RecoveryReport['segmentsLost'];
}

export interface StorageBackend {
  readonly nodeId: string;
  /** Where clients reach the node's memory (UCX bootstrap HOST:PORT). */
  readonly fastpathAddress: string;
  allocate(request: AllocateRequest): Promise<SegmentDescriptor>;
  commit(segmentId: number, request: CommitRequest): Promise<SegmentDescriptor>;
  /**
   * Checks the written range as `verify` does and commits only when it
   * passes, in one step on the node: a failure is the check's StorageError
   * (INVALID_BATCH) and nothing was committed.
   */
  commitChecked(segmentId: number, request: CommitRequest, check: RangeCheck): Promise<SegmentDescriptor>;
  writeSkipMarker(segmentId: number, position: number, bytes: Buffer): Promise<void>;
  seal(segmentId: number, finalPosition: number): Promise<SegmentDescriptor>;
  free(segmentId: number): Promise<void>;
  describe(): Promise<SegmentDescriptor[]>;
  usage(): Promise<StorageUsage>;
  /** Packed UCX key for a segment's data area. */
  segmentKey(segmentId: number, access: 'read' | 'read-write'): Promise<Buffer>;
  /** Every copy of a segment a client is to write (all in-sync replicas) or may read, with its node's address and key. */
  segmentKeys(segmentId: number, access: 'read' | 'read-write'): Promise<ReplicaKey[]>;
  /** Checks written bytes before they are committed; throws a StorageError (INVALID_BATCH) naming the fault. */
  verify(segmentId: number, position: number, lengthBytes: number, expected: ExpectedBatches, where: string): Promise<void>;
  /**
   * Asks the node whether it is there; resolves to its boot id, which changes
   * on every start of its process (its segment keys change with it).
   */
  probe(): Promise<string>;
  damage(): Promise<StorageDamage>;
  /** Overwrites exactly one fenced range with a skip marker (the operator's command). */
  skipFencedRange(segmentId: number, startPosition: number): Promise<FencedRange>;
  /** Idempotent producers' windows over a segment's committed batches, read where the data is (header-only walk). */
  scanProducers(segmentId: number): Promise<ProducerScan>;
  close(): void;
}

export class EmbeddedStorage implements StorageBackend {
  constructor(readonly node: StorageNode) {}

  get nodeId(): string {
    return this.node.nodeId;
  }

  get fastpathAddress(): string {
    return this.node.fastpathAddress;
  }

  async allocate(request: AllocateRequest): Promise<SegmentDescriptor> {
    return this.node.allocate(request);
  }

  async commit(segmentId: number, request: CommitRequest): Promise<SegmentDescriptor> {
    return this.node.commit(segmentId, request);
  }

  async commitChecked(segmentId: number, request: CommitRequest, check: RangeCheck): Promise<SegmentDescriptor> {
    return applyCommitStep(this.node, segmentId, { check, commit: request })!;
  }

  async writeSkipMarker(segmentId: number, position: number, bytes: Buffer): Promise<void> {
    this.node.writeSkipMarker(segmentId, position, bytes);
  }

  async seal(segmentId: number, finalPosition: number): Promise<SegmentDescriptor> {
    return this.node.seal(segmentId, finalPosition);
  }

  async free(segmentId: number): Promise<void> {
    this.node.free(segmentId);
  }

  async describe(): Promise<SegmentDescriptor[]> {
    return this.node.store.describe();
  }

  async usage(): Promise<StorageUsage> {
    return this.node.store.usage();
  }

  async segmentKey(segmentId: number, access: 'read' | 'read-write'): Promise<Buffer> {
    return this.node.segmentKey(segmentId, access);
  }

  async segmentKeys(segmentId: number, access: 'read' | 'read-write'): Promise<ReplicaKey[]> {
    return [{ node: this.nodeId, address: this.fastpathAddress, key: await this.segmentKey(segmentId, access) }];
  }

  async verify(segmentId: number, position: number, lengthBytes: number, expected: ExpectedBatches, where: string): Promise<void> {
    this.node.verify(segmentId, position, lengthBytes, expected, where);
  }

  /** The node lives and dies with this process. */
  async probe(): Promise<string> {
    return 'embedded';
  }

  async damage(): Promise<StorageDamage> {
    return { ranges: this.node.store.fencedRanges(), unreadableSlots: this.node.store.recovery.segmentsLost };
  }

  async skipFencedRange(segmentId: number, startPosition: number): Promise<FencedRange> {
    return this.node.store.skipFencedRange(segmentId, startPosition);
  }

  async scanProducers(segmentId: number): Promise<ProducerScan> {
    return this.node.scanProducers(segmentId);
  }

  close(): void {
    this.node.close();
  }
}

/**
 * A storage node in another process. Keys are cached: they do not change
 * while a segment lives and the node's process runs; a restart of the node
 * (a new boot id seen by `probe`) empties the cache. gRPC reconnects by itself.
 */
export class RemoteStorage implements StorageBackend {
  /** Grants by segment and access, asked for once (a roll asks ahead of the producer that needs it). */
  private readonly keys = new Map<string, Promise<Buffer>>();

  private constructor(
    private readonly client: StorageClient,
    readonly nodeId: string,
    readonly fastpathAddress: string,
    private bootId: string,
  ) {}

  /** `leaderEpoch`: an HA broker's term, sent with every call so the node fences older leaders. */
  static async connect(address: string, options: { leaderEpoch?: bigint; deadlineMs?: number } = {}): Promise<RemoteStorage> {
    const client = new StorageClient(address, { leaderEpoch: options.leaderEpoch, deadlineMs: options.deadlineMs });
    let info: Awaited<ReturnType<StorageClient['info']>>;
    try {
      info = await client.info();
    } catch (err) {
      client.close();
      if ((err as { code?: string }).code === 'UNAVAILABLE') throw new StorageError('UNAVAILABLE', `no rdmq storage node answers at ${address} (is rdmq storage running there?)`);
      throw err;
    }
    return new RemoteStorage(client, info.nodeUuid, info.fastpathAddress, info.bootId);
  }

  async probe(): Promise<string> {
    const info = await this.client.info();
    if (info.bootId !== this.bootId) {
      this.keys.clear();
      this.bootId = info.bootId;
    }
    return info.bootId;
  }

  allocate(request: AllocateRequest): Promise<SegmentDescriptor> {
    return this.client.allocate(request);
  }

  /** Over the node's commit stream, batched with the other commits of this moment. */
  async commit(segmentId: number, request: CommitRequest): Promise<SegmentDescriptor> {
    return steppedSegment(await this.client.commitStep(segmentId, { commit: request }), 'a commit');
  }

  async commitChecked(segmentId: number, request: CommitRequest, check: RangeCheck): Promise<SegmentDescriptor> {
    return steppedSegment(await this.client.commitStep(segmentId, { check, commit: request }), 'a commit');
  }

  writeSkipMarker(segmentId: number, position: number, bytes: Buffer): Promise<void> {
    return this.client.writeSkipMarker(segmentId, position, bytes);
  }

  seal(segmentId: number, finalPosition: number): Promise<SegmentDescriptor> {
    return this.client.seal(segmentId, { finalPosition });
  }

  async free(segmentId: number): Promise<void> {
    this.keys.delete(`${segmentId}:read`);
    this.keys.delete(`${segmentId}:read-write`);
    await this.client.free(segmentId);
  }

  describe(): Promise<SegmentDescriptor[]> {
    return this.client.describe();
  }

  /** Committed bytes, for a copy to another replica. */
  readData(segmentId: number, position: number, lengthBytes: number): Promise<Buffer> {
    return this.client.readData(segmentId, position, lengthBytes);
  }

  /** Bytes copied from another replica, past the commit position. */
  writeData(segmentId: number, position: number, data: Buffer): Promise<void> {
    return this.client.writeData(segmentId, position, data);
  }

  usage(): Promise<StorageUsage> {
    return this.client.usage();
  }

  segmentKey(segmentId: number, access: 'read' | 'read-write'): Promise<Buffer> {
    const tag = `${segmentId}:${access}`;
    let key = this.keys.get(tag);
    if (!key) {
      key = this.client.segmentKey(segmentId, access);
      this.keys.set(tag, key);
      // A refusal is not kept: the next caller asks again.
      key.catch(() => {
        if (this.keys.get(tag) === key) this.keys.delete(tag);
      });
    }
    return key;
  }

  async segmentKeys(segmentId: number, access: 'read' | 'read-write'): Promise<ReplicaKey[]> {
    return [{ node: this.nodeId, address: this.fastpathAddress, key: await this.segmentKey(segmentId, access) }];
  }

  async verify(segmentId: number, position: number, lengthBytes: number, expected: ExpectedBatches, where: string): Promise<void> {
    await this.client.commitStep(segmentId, { check: { position, lengthBytes, expected, where } });
  }

  damage(): Promise<StorageDamage> {
    return this.client.fencedRanges();
  }

  skipFencedRange(segmentId: number, startPosition: number): Promise<FencedRange> {
    return this.client.skipFencedRange(segmentId, startPosition);
  }

  scanProducers(segmentId: number): Promise<ProducerScan> {
    return this.client.scanProducers(segmentId);
  }

  close(): void {
    this.client.close();
  }
}
