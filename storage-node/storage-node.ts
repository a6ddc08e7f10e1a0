// A storage node: the SegmentStore plus what fast-path clients may do with
// its segments. Clients hold grants (grant.ts) the node signed and the broker
// handed out; every access is checked here, where the client cannot change
// anything, before a byte lands in or leaves the region:
//   - the grant's signature (forged, altered, or from before a restart);
//   - its access (a read grant never writes) and byte bounds;
//   - the segment is still there (freed: revoked) and, for a write, the
//     range lies at or above the commit line, below a sealed segment's final
//     position, and outside every range the broker filled with a skip marker
//     (a stage it gave up on: the producer's late put is revoked).
// A grant of a deposed broker's leader epoch is refused once a newer leader
// claimed the node. On this host no client writes into the node's address
// space: data moves through the node's data service (data-service.ts), and
// the process is not dumpable (cli/node.ts calls protectStorageProcess).
import { crc32cBlocks, type Transport } from '../addon';
import type { ProducerScan } from '../format';
import { checkStoredBatches, ExpectedBatches } from './batch-check';
import { CopyCrcs } from './copy-crcs';
import { GrantAccess, GrantSigner, VerifiedGrants } from './grant';
import { AllocateRequest, CommitRequest, SegmentDescriptor, SegmentStore } from './segment-store';
import { StorageError } from './storage-error';
import { fastPathModeOf, FastPathMode, VerbsRegistrations } from './verbs-registrations';

export type SegmentAccess = GrantAccess;

export interface StorageNodeOptions {
  /** The node's UCX transport, when it has one: used for one-sided access only where it is RDMA (verbs-registrations.ts). */
  transport?: Transport;
  /** The highest broker leader epoch seen (grants of older epochs are refused); 0 without HA. */
  leaderEpoch?: () => bigint;
}

/** A put whose bytes move on another thread (data-service.ts copies large CMA puts on libuv's pool). */
export interface CopyInFlight {
  /** Blocks this thread until no byte of the copy can move any more (it runs on another thread, so it ends without this one). */
  waitLanded(): void;
}

/** Puts by a direct call this large or larger are hashed as they are copied; smaller batches are as cheap to read at the check. */
const HASHED_PUT_BYTES_MIN = 64 * 1024;

/** Accesses refused, by reason: for /metrics and tests. */
export type RefusalCounts = Record<'invalid' | 'denied' | 'revoked', number>;

export class StorageNode {
  private readonly signer = new GrantSigner();
  /** Ranges the broker filled with skip markers, per open segment: no write may land there any more. */
  private readonly skipped = new Map<number, Array<[number, number]>>();
  private readonly verbs: VerbsRegistrations | undefined;
  readonly mode: FastPathMode;
  readonly refusals: RefusalCounts = { invalid: 0, denied: 0, revoked: 0 };
  /** Puts and gets of the checked data path served (answered without a refusal): for /metrics and tests. */
  readonly served = { puts: 0, gets: 0 };
  /** Of those, the ones that came on the Unix socket (clients on this host): the rest came over TCP. */
  readonly servedOnUnixSocket = { puts: 0, gets: 0 };
  /** Puts checked and still copying on another thread, per segment: every fence over their range waits for them first. */
  private readonly copies = new Map<number, Set<{ start: number; end: number; copy: CopyInFlight }>>();
  /** Block CRCs taken by the threads that copied puts in (copy-crcs.ts); none on verbs, where puts bypass the node. */
  readonly copyCrcs: CopyCrcs | undefined;
  leaderEpoch: () => bigint;

  constructor(
    readonly store: SegmentStore,
    options: StorageNodeOptions = {},
    /** Where clients reach this node's data (data service HOST:PORT). */
    public fastpathAddress = '',
  ) {
    this.leaderEpoch = options.leaderEpoch ?? (() => 0n);
    this.mode = fastPathModeOf(options.transport);
    this.verbs = this.mode === 'verbs' && options.transport ? new VerbsRegistrations(store, options.transport) : undefined;
    for (const segment of store.describe()) this.verbs?.add(segment.segmentId, segment.sealed);
    const copyCrcs = this.verbs ? undefined : new CopyCrcs((segmentId) => store.dataRange(segmentId).lengthBytes);
    this.copyCrcs = copyCrcs;
    // The store's own writes (skip markers, copies from another replica, fenced ranges overwritten) count as writes too.
    if (copyCrcs) store.onDataWrite = (segmentId, position, lengthBytes) => void copyCrcs.touched(segmentId, position, lengthBytes);
  }

  get nodeId(): string {
    return this.store.superblock.nodeUuid;
  }

  allocate(request: AllocateRequest): SegmentDescriptor {
    const segment = this.store.allocate(request);
    this.verbs?.add(segment.segmentId, false);
    return segment;
  }

  commit(segmentId: number, request: CommitRequest): SegmentDescriptor {
    this.landCopies(segmentId, 0, request.commitPosition);
    const segment = this.store.commit(segmentId, request);
    // Everything below the commit line is closed to writes already; drop the fences it covers.
    const fences = this.skipped.get(segmentId);
    if (fences) {
      const open = fences.filter(([, end]) => end > segment.commitPosition);
      if (open.length === 0) this.skipped.delete(segmentId);
      else this.skipped.set(segmentId, open);
    }
    return segment;
  }

  /** The broker gave up on a stage: fill it, and fence it against the producer's late put. */
  writeSkipMarker(segmentId: number, position: number, bytes: Buffer): void {
    // Fenced first: from here on no put may land in the range, whatever happens to the write.
    let fences = this.skipped.get(segmentId);
    if (!fences) this.skipped.set(segmentId, (fences = []));
    fences.push([position, position + bytes.length]);
    // Puts checked before the fence land before the marker, never over it.
    this.landCopies(segmentId, position, position + bytes.length);
    this.store.writeSkipMarker(segmentId, position, bytes);
  }

  seal(segmentId: number, finalPosition: number): SegmentDescriptor {
    this.landCopies(segmentId);
    const segment = this.store.seal(segmentId, { finalPosition });
    this.verbs?.sealed(segmentId);
    this.copyCrcs?.drop(segmentId);
    return segment;
  }

  free(segmentId: number): void {
    // No copy may write into memory that another segment may get next.
    this.landCopies(segmentId);
    this.verbs?.remove(segmentId);
    this.copyCrcs?.drop(segmentId);
    this.skipped.delete(segmentId);
    this.store.free(segmentId);
  }

  /**
   * The grant for a segment's whole data area with `access`: what the broker
   * hands a client it decided may have it. On verbs the grant is followed by
   * the segment's own UCX key of exactly that access.
   */
  segmentKey(segmentId: number, access: SegmentAccess): Buffer {
    if (!this.store.has(segmentId)) throw new StorageError('UNKNOWN_SEGMENT', `segment ${segmentId} is not allocated on storage node ${this.nodeId}`);
    const { lengthBytes } = this.store.dataRange(segmentId);
    const grant = this.signer.sign({ segmentId, access, startPosition: 0, endPosition: lengthBytes, leaderEpoch: this.leaderEpoch() });
    const rkey = this.verbs?.packedKey(segmentId, access);
    return rkey ? Buffer.concat([grant, rkey]) : grant;
  }

  /** A memory of grants verified for one client connection (pass it to writableRange / readableRange). */
  verifiedGrants(): VerifiedGrants {
    return new VerifiedGrants(this.signer);
  }

  /**
   * The region bytes a put under `grantBytes` may write, [position, +length);
   * throws GRANT_INVALID, ACCESS_DENIED or GRANT_REVOKED naming what is wrong.
   * `verified`: the connection's grants already verified (only the signature
   * check is skipped for identical bytes; every other check runs).
   */
  writableRange(grantBytes: Buffer, position: number, lengthBytes: number, verified?: VerifiedGrants): Buffer {
    return this.checkWrite(grantBytes, position, lengthBytes, verified).target;
  }

  private checkWrite(grantBytes: Buffer, position: number, lengthBytes: number, verified?: VerifiedGrants, hashing = false): { segmentId: number; target: Buffer; write: number } {
    const { segmentId, segment } = this.admit(grantBytes, 'read-write', position, lengthBytes, verified);
    if (position < segment.commitPosition) {
      return this.refuse('revoked', 'GRANT_REVOKED', `write [${position}, +${lengthBytes}) of segment ${segmentId} is below its commit line ${segment.commitPosition}: committed bytes are never overwritten`);
    }
    if (segment.sealed && position + lengthBytes > segment.writePosition) {
      return this.refuse('revoked', 'GRANT_REVOKED', `segment ${segmentId} is sealed at ${segment.writePosition}; write [${position}, +${lengthBytes}) goes beyond it`);
    }
    for (const [start, end] of this.skipped.get(segmentId) ?? []) {
      if (position < end && position + lengthBytes > start) {
        return this.refuse('revoked', 'GRANT_REVOKED', `write [${position}, +${lengthBytes}) of segment ${segmentId} overlaps [${start}, ${end}), a stage the broker skipped (its lease ran out)`);
      }
    }
    const target = this.store.written(segmentId, position, lengthBytes);
    return { segmentId, target, write: this.copyCrcs?.touched(segmentId, position, lengthBytes, hashing) ?? 0 };
  }

  /**
   * A put by a direct call, from a client in this process: checked as
   * writableRange checks, copied on this thread, and, when it holds whole
   * blocks, hashed at once while its bytes are in cache (copy-crcs.ts).
   */
  writeHere(grantBytes: Buffer, position: number, source: Uint8Array, verified?: VerifiedGrants): void {
    const hashing = this.copyCrcs !== undefined && source.length >= HASHED_PUT_BYTES_MIN;
    const { segmentId, target, write } = this.checkWrite(grantBytes, position, source.length, verified, hashing);
    target.set(source);
    if (!hashing || this.crossesCopies(segmentId, position, source.length)) return;
    const { firstBlockOffset, count } = CopyCrcs.blocksOfPut(position, source.length);
    if (count > 0) this.copyCrcs!.landed(segmentId, write, position, crc32cBlocks(target, firstBlockOffset));
  }

  /** A copy under way on another thread into [position, +lengthBytes) of the segment may land after a write there now. */
  private crossesCopies(segmentId: number, position: number, lengthBytes: number): boolean {
    for (const e of this.copies.get(segmentId) ?? []) if (e.start < position + lengthBytes && e.end > position) return true;
    return false;
  }

  /**
   * A put whose bytes land on another thread: checked as writableRange
   * checks, then `start` begins the copy into the range. Until the copy has
   * landed, every fence over its range (skip marker, seal, free, the check
   * before a commit, the commit) waits for it before taking effect: the put
   * lands entirely before the fence, or comes after it and is refused.
   * `blockCrcs`: filled by the copy (PeerProcess.readIntoAsync, blocks from
   * CopyCrcs.blocksOfPut); kept once it landed, for the check before the commit.
   */
  writeOffThread(
    grantBytes: Buffer,
    position: number,
    lengthBytes: number,
    verified: VerifiedGrants | undefined,
    start: (target: Buffer) => { copy: CopyInFlight; settled: Promise<void>; blockCrcs?: Uint32Array },
  ): Promise<void> {
    const { segmentId, target, write } = this.checkWrite(grantBytes, position, lengthBytes, verified, true);
    // A copy still under way into the same bytes may land after this one: then neither's block CRCs are kept.
    const crossed = this.crossesCopies(segmentId, position, lengthBytes);
    const started = start(target);
    const { copy, blockCrcs } = started;
    const settled = started.settled.then(() => {
      if (blockCrcs && !crossed) this.copyCrcs?.landed(segmentId, write, position, blockCrcs);
    });
    let inFlight = this.copies.get(segmentId);
    if (!inFlight) this.copies.set(segmentId, (inFlight = new Set()));
    const entry = { start: position, end: position + lengthBytes, copy };
    inFlight.add(entry);
    const set = inFlight;
    return settled.finally(() => {
      set.delete(entry);
      if (set.size === 0 && this.copies.get(segmentId) === set) this.copies.delete(segmentId);
    });
  }

  /** Puts of a segment still copying on another thread (tests, metrics). */
  copiesInFlight(segmentId: number): number {
    return this.copies.get(segmentId)?.size ?? 0;
  }

  /** Waits until every put copying on another thread into [start, end) of the segment has landed. */
  landCopies(segmentId: number, start = 0, end = Infinity): void {
    const inFlight = this.copies.get(segmentId);
    if (!inFlight) return;
    for (const e of inFlight) if (e.start < end && e.end > start) e.copy.waitLanded();
  }

  /** The region bytes a get under `grantBytes` may read (a view, no copy). */
  readableRange(grantBytes: Buffer, position: number, lengthBytes: number, verified?: VerifiedGrants): Buffer {
    const { segmentId } = this.admit(grantBytes, 'read', position, lengthBytes, verified);
    return this.store.written(segmentId, position, lengthBytes);
  }

  /** Checks bytes a producer wrote (not yet committed) before the broker commits them. */
  verify(segmentId: number, position: number, lengthBytes: number, expected: ExpectedBatches, where: string): void {
    this.landCopies(segmentId, position, position + lengthBytes);
    checkStoredBatches(this.store.written(segmentId, position, lengthBytes), expected, where, this.batchCrcs(segmentId, position));
  }

  /** The check's batch CRCs for the segment's data from `position`: from the blocks its puts' copies took where they still hold. */
  batchCrcs(segmentId: number, position: number): ((bytes: Buffer, at: number, batchLength: number) => number) | undefined {
    return this.copyCrcs?.batchCrcs(segmentId, position);
  }

  scanProducers(segmentId: number): ProducerScan {
    return this.store.scanProducers(segmentId);
  }

  close(): void {
    for (const segmentId of this.copies.keys()) this.landCopies(segmentId);
    this.verbs?.close();
    this.store.close();
  }

  /** Signature, epoch, access, bounds and the segment's existence; a write grant also reads. */
  private admit(grantBytes: Buffer, wanted: SegmentAccess, position: number, lengthBytes: number, verified?: VerifiedGrants): { segmentId: number; segment: SegmentDescriptor } {
    let grant;
    try {
      // Another node's memory would vouch for grants this node never verified.
      grant = verified?.signer === this.signer ? verified.verify(grantBytes) : this.signer.verify(grantBytes);
    } catch (err) {
      this.refusals.invalid++;
      throw err;
    }
    const epoch = this.leaderEpoch();
    if (grant.leaderEpoch < epoch) {
      return this.refuse('revoked', 'GRANT_REVOKED', `grant of leader epoch ${grant.leaderEpoch} is void: leader epoch ${epoch} has claimed this storage node`);
    }
    if (wanted === 'read-write' && grant.access !== 'read-write') {
      return this.refuse('denied', 'ACCESS_DENIED', `write refused: the grant for segment ${grant.segmentId} is read-only`);
    }
    if (!Number.isSafeInteger(position) || position < grant.startPosition || lengthBytes > grant.endPosition - position) {
      return this.refuse('denied', 'ACCESS_DENIED', `[${position}, +${lengthBytes}) is outside the grant's bytes [${grant.startPosition}, ${grant.endPosition}) of segment ${grant.segmentId}`);
    }
    if (!this.store.has(grant.segmentId)) {
      return this.refuse('revoked', 'GRANT_REVOKED', `segment ${grant.segmentId} was freed; its grants are void`);
    }
    return { segmentId: grant.segmentId, segment: this.store.get(grant.segmentId) };
  }

  private refuse(kind: keyof RefusalCounts, code: 'ACCESS_DENIED' | 'GRANT_REVOKED', message: string): never {
    this.refusals[kind]++;
    throw new StorageError(code, message);
  }
}
