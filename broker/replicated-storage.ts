// Several storage nodes behind one StorageBackend: each segment lives on up
// to its topic's replication factor of nodes, under the same segment id on
// each. Producers put every batch to every in-sync copy (the fast path hands
// them all the keys); the broker checks and commits on every in-sync copy,
// so a watermark shown to readers is held by each of them, and readers may
// read any copy.
//
// The in-sync set of a segment only shrinks here (a node that fails a call
// or stops answering leaves every set it is in, as long as another copy
// stays) and grows back by re-replication: a sealed segment short of copies
// is copied, committed bytes only, to a node that lacks it. A node that
// comes back holds stale copies: they are freed (retired), and it takes new
// copies like any other node. The broker persists every change of a set in
// the metadata (onReplicasChanged) before it counts, one change at a time,
// and a copy is retired only once the durable set leaves it out. A copy the
// set lists but its node does not hold (found when the node is described, or
// when its key is asked for) leaves the set while another copy holds it.
import type { ProducerScan } from '../format';
import type { ReplicaKey } from '../format/fastpath-wire';
import { AllocateRequest, CommitRequest, ExpectedBatches, FencedRange, RangeCheck, SegmentDescriptor, StorageError, StorageUsage } from '../storage-node';
import { RemoteStorage, StorageBackend, StorageDamage } from './storage-backend';
import { BrokerError } from './topics';

/** Bytes per ReadData/WriteData call when copying a segment to a new replica. */
const COPY_CHUNK_BYTES = 1024 * 1024;
/** How long a storage call may take before its node counts as not answering. */
const NODE_DEADLINE_MS = 3000;

export interface ReplicaPolicy {
  /** The topic's replication factor. */
  replicationFactorOf(topicId: number): number;
  /** The topic's min.insync.replicas: fewer live copies than this and writes are refused (NOT_ENOUGH_REPLICAS). */
  minInsyncOf(topicId: number): number;
  /** Persists a segment's new in-sync set; resolves once durable. */
  onReplicasChanged(segmentId: number, replicas: string[], topicId: number): Promise<void>;
  /**
   * The segment's in-sync set as the metadata log holds it durably (undefined:
   * the log does not list the segment). A copy is retired only when this set
   * leaves it out too: a set changed in memory whose record has not reached
   * the log (a leader that steps down meanwhile) must not cost a copy the
   * next leader still counts on. Without it, the set in memory decides.
   */
  durableReplicasOf?(segmentId: number, topicId: number): string[] | undefined;
  /** Tells the segment's readers its copies now (after the new set took effect); resolves once they were told. */
  announceReplicas?(segmentId: number): Promise<void>;
  log?(message: string): void;
}

/** What one probe of every node found. */
export interface ReplicaProbe {
  /** Segments whose in-sync set shrank in this probe. */
  shrunk: Set<number>;
  /** Segments none of whose in-sync copies answers. */
  unavailable: Set<number>;
  /** A node restarted: segment keys handed out for it are void. */
  restarted: boolean;
  /** Segments whose only in-sync copy is on a node that restarted (their writers need new keys). */
  restartedOnly: Set<number>;
}

interface Node {
  storage: RemoteStorage;
  up: boolean;
  bootId: string;
}

interface Placement {
  topicId: number;
  replicas: string[];
}

export class ReplicatedStorage implements StorageBackend {
  private readonly placements = new Map<number, Placement>();
  private nextSegmentId = 1;
  private policy: ReplicaPolicy | undefined;
  private copying = false;
  private replicaChanges: Promise<unknown> = Promise.resolve();
  /** Copies that left their set for damaged bytes, by `segmentId:nodeId`: retired once the segment is sealed. */
  private readonly damagedCopies = new Map<string, { segmentId: number; nodeId: string }>();
  /** Segments not copied for their fenced ranges, each said once. */
  private readonly notCopied = new Set<number>();

  private constructor(private readonly nodes: Map<string, Node>) {}

  /** `leaderEpoch`: an HA broker's term, sent with every call so each node fences older leaders. */
  static async connect(addresses: string[], options: { leaderEpoch?: bigint } = {}): Promise<ReplicatedStorage> {
    const nodes = new Map<string, Node>();
    for (const address of addresses) {
      const storage = await RemoteStorage.connect(address, { deadlineMs: NODE_DEADLINE_MS, leaderEpoch: options.leaderEpoch });
      if (nodes.has(storage.nodeId)) throw new Error(`storage nodes ${address} and another share node id ${storage.nodeId}: each needs its own region`);
      nodes.set(storage.nodeId, { storage, up: true, bootId: await storage.probe() });
    }
    const replicated = new ReplicatedStorage(nodes);
    for (const node of nodes.values()) {
      for (const s of await node.storage.describe()) replicated.nextSegmentId = Math.max(replicated.nextSegmentId, s.segmentId + 1);
    }
    return replicated;
  }

  /**
   * The broker's side: its policy, and the in-sync sets the metadata holds
   * (segment id → topic and node ids). Copies a node holds outside its
   * segment's set are stale: freed here, unless no copy of the set answers.
   */
  async attach(policy: ReplicaPolicy, placements: Iterable<{ segmentId: number; topicId: number; replicas: string[] }>): Promise<void> {
    this.policy = policy;
    for (const p of placements) {
      this.placements.set(p.segmentId, { topicId: p.topicId, replicas: [...p.replicas] });
      this.nextSegmentId = Math.max(this.nextSegmentId, p.segmentId + 1);
    }
    await this.reconcileCopies();
  }

  get nodeId(): string {
    return [...this.nodes.keys()][0];
  }

  get fastpathAddress(): string {
    return [...this.nodes.values()][0].storage.fastpathAddress;
  }

  /** The nodes and whether each answers (status, metrics). */
  nodeStates(): { nodeId: string; fastpathAddress: string; up: boolean }[] {
    return [...this.nodes].map(([nodeId, n]) => ({ nodeId, fastpathAddress: n.storage.fastpathAddress, up: n.up }));
  }

  replicasOf(segmentId: number): string[] {
    return [...(this.placements.get(segmentId)?.replicas ?? [])];
  }

  /** Segments with fewer in-sync copies than their topic's replication factor. */
  underReplicated(): number[] {
    const policy = this.policy;
    if (!policy) return [];
    return [...this.placements].filter(([, p]) => p.replicas.length < policy.replicationFactorOf(p.topicId)).map(([id]) => id);
  }

  async allocate(request: AllocateRequest): Promise<SegmentDescriptor> {
    const policy = this.policyOrThrow();
    const wanted = policy.replicationFactorOf(request.topicId);
    const minInsync = policy.minInsyncOf(request.topicId);
    const candidates = this.placementOrder().filter((id) => this.nodes.get(id)!.up);
    if (candidates.length < minInsync) {
      throw new BrokerError(
        'NOT_ENOUGH_REPLICAS',
        `only ${candidates.length} of ${this.nodes.size} storage nodes answer; topic id ${request.topicId} needs min.insync.replicas=${minInsync}`,
      );
    }
    const segmentId = this.nextSegmentId++;
    const chosen: string[] = [];
    let first: SegmentDescriptor | undefined;
    let lastError: unknown;
    for (const nodeId of candidates) {
      if (chosen.length === wanted) break;
      try {
        const descriptor = await this.nodes.get(nodeId)!.storage.allocate({ ...request, segmentId });
        first ??= descriptor;
        chosen.push(nodeId);
      } catch (err) {
        lastError = err;
        if (isUnreachable(err)) this.nodes.get(nodeId)!.up = false;
      }
    }
    if (!first || chosen.length < minInsync) {
      await Promise.all(chosen.map((id) => this.nodes.get(id)!.storage.free(segmentId).catch(() => undefined)));
      if (lastError && !first) throw lastError;
      throw new BrokerError('NOT_ENOUGH_REPLICAS', `segment ${segmentId} found room on ${chosen.length} storage node(s); min.insync.replicas is ${minInsync}`);
    }
    if (chosen.length < wanted) policy.log?.(`segment ${segmentId} placed on ${chosen.length} of ${wanted} wanted storage nodes (${chosen.join(', ')}); it is copied to more once sealed and nodes answer`);
    this.placements.set(segmentId, { topicId: request.topicId, replicas: chosen });
    return first;
  }

  async commit(segmentId: number, request: CommitRequest): Promise<SegmentDescriptor> {
    return this.onEveryCopy(segmentId, 'commit', (s) => s.commit(segmentId, request));
  }

  /**
   * Checks and commits on every in-sync copy, one step on each (over each
   * node's commit stream, batched with that node's other commits). As with
   * verify then commit: a copy that lacks the bytes while another has them,
   * or does not answer, leaves the set; when no copy passes the check, its
   * error is the answer and no copy committed. Steps of one partition may be
   * in flight together: each node applies them in order, and a step after a
   * refused one fails there (it does not continue the commit line).
   */
  async commitChecked(segmentId: number, request: CommitRequest, check: RangeCheck): Promise<SegmentDescriptor> {
    const placement = this.placementOf(segmentId);
    const replicas = [...placement.replicas];
    const results = await Promise.allSettled(replicas.map((id) => this.nodes.get(id)!.storage.commitChecked(segmentId, request, check)));
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    const ok = results.find((r): r is PromiseFulfilledResult<SegmentDescriptor> => r.status === 'fulfilled');
    if (!ok) throw failures.find(isInvalidBatch) ?? failures[0];
    const failed = replicas.filter((_, i) => results[i].status === 'rejected');
    if (failed.length > 0) {
      for (const id of failed) {
        const err = (results[replicas.indexOf(id)] as PromiseRejectedResult).reason;
        if (isUnreachable(err)) this.nodes.get(id)!.up = false;
        // Lacks these bytes, or an earlier batch of the same producer (its commit line is behind): out of sync.
        else if (!isInvalidBatch(err) && !(err instanceof StorageError && err.code === 'INVALID_POSITION')) throw err;
      }
      await this.shrink(segmentId, failed, `${check.where}: ${failed.join(', ')} did not commit (${String((failures[0] as Error)?.message ?? failures[0])})`);
    }
    const minInsync = this.policyOrThrow().minInsyncOf(placement.topicId);
    if (placement.replicas.length < minInsync) {
      throw new BrokerError('NOT_ENOUGH_REPLICAS', `segment ${segmentId} is in sync on ${placement.replicas.length} node(s), below min.insync.replicas=${minInsync}`);
    }
    return ok.value;
  }

  async writeSkipMarker(segmentId: number, position: number, bytes: Buffer): Promise<void> {
    await this.onEveryCopy(segmentId, 'skip marker', (s) => s.writeSkipMarker(segmentId, position, bytes));
  }

  async seal(segmentId: number, finalPosition: number): Promise<SegmentDescriptor> {
    return this.onEveryCopy(segmentId, 'seal', (s) => s.seal(segmentId, finalPosition));
  }

  /**
   * Every copy must hold the bytes: a copy that lacks them (its producer's put
   * there failed) leaves the in-sync set while another copy has them; when
   * none has them the batch is refused, as with one node.
   */
  async verify(segmentId: number, position: number, lengthBytes: number, expected: ExpectedBatches, where: string): Promise<void> {
    const placement = this.placementOf(segmentId);
    const results = await Promise.allSettled(placement.replicas.map((id) => this.nodes.get(id)!.storage.verify(segmentId, position, lengthBytes, expected, where)));
    const good = placement.replicas.filter((_, i) => results[i].status === 'fulfilled');
    if (good.length === placement.replicas.length) return;
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    if (good.length === 0) throw failures.find((e) => e instanceof StorageError && e.code === 'INVALID_BATCH') ?? failures[0];
    const bad = placement.replicas.filter((id) => !good.includes(id));
    bad.forEach((id, i) => {
      if (isUnreachable(failures[i])) this.nodes.get(id)!.up = false;
    });
    await this.shrink(segmentId, bad, `${where}: ${bad.join(', ')} lack the batch (${String((failures[0] as Error)?.message ?? failures[0])})`);
  }

  async free(segmentId: number): Promise<void> {
    this.placements.delete(segmentId);
    await Promise.all(
      [...this.nodes.values()].filter((n) => n.up).map((n) => n.storage.free(segmentId).catch(() => undefined)),
    );
  }

  /**
   * One descriptor per segment: from the in-sync copy that answers with the
   * most committed. The others hold those bytes too (verified on every copy
   * before any commit), but their headers may lag (a broker died between the
   * copies' commits): they are committed up to it here, so the durable end
   * never depends on which copies answer next time; a copy that refuses
   * leaves the set.
   */
  async describe(): Promise<SegmentDescriptor[]> {
    const best = new Map<number, SegmentDescriptor>();
    const lagging: { segmentId: number; nodeId: string; commitPosition: number }[] = [];
    const answered = new Set<string>();
    for (const [nodeId, node] of this.nodes) {
      if (!node.up) continue;
      let segments: SegmentDescriptor[];
      try {
        segments = await node.storage.describe();
      } catch (err) {
        if (isUnreachable(err)) node.up = false;
        continue;
      }
      answered.add(nodeId);
      for (const s of segments) {
        const placement = this.placements.get(s.segmentId);
        if (placement && !placement.replicas.includes(nodeId)) continue;
        const known = best.get(s.segmentId);
        if (!known || s.commitPosition > known.commitPosition) best.set(s.segmentId, s);
        if (placement) lagging.push({ segmentId: s.segmentId, nodeId, commitPosition: s.commitPosition });
      }
    }
    // A segment missing here is taken for one whose header is unreadable and
    // fenced as lost: only say so when every in-sync copy answered without it,
    // never because its copies were down or paused while we asked.
    const unseen = [...this.placements].filter(([id, p]) => !best.has(id) && p.replicas.some((nodeId) => !answered.has(nodeId))).map(([id]) => id);
    if (unseen.length > 0) throw new StorageError('UNAVAILABLE', `segments ${unseen.slice(0, 5).join(', ')} have in-sync copies that did not answer`);
    for (const copy of lagging) {
      const top = best.get(copy.segmentId)!;
      if (copy.commitPosition >= top.commitPosition) continue;
      try {
        await this.nodes.get(copy.nodeId)!.storage.commit(copy.segmentId, { commitPosition: top.commitPosition, endOffset: top.endOffset, maxTimestamp: top.maxTimestamp });
        this.policy?.log?.(`segment ${copy.segmentId}: the copy on ${copy.nodeId} committed up to ${top.commitPosition} like the others (it was at ${copy.commitPosition})`);
      } catch (err) {
        await this.shrink(copy.segmentId, [copy.nodeId], `its header could not catch up (${(err as Error).message})`);
      }
    }
    return [...best.values()];
  }

  async usage(): Promise<StorageUsage> {
    const all = await Promise.all([...this.nodes.values()].filter((n) => n.up).map((n) => n.storage.usage()));
    const sum = (f: (u: StorageUsage) => number): number => all.reduce((acc, u) => acc + f(u), 0);
    return {
      ...all[0],
      usedBytes: sum((u) => u.usedBytes),
      allocatedBytes: sum((u) => u.allocatedBytes),
      segments: sum((u) => u.segments),
      freeBytes: sum((u) => u.freeBytes),
      largestFreeBytes: Math.max(0, ...all.map((u) => u.largestFreeBytes)),
    };
  }

  async segmentKey(segmentId: number, access: 'read' | 'read-write'): Promise<Buffer> {
    return (await this.segmentKeys(segmentId, access))[0].key;
  }

  /**
   * Keys of the in-sync copies that answer. A listed node that says it does
   * not hold the segment leaves its set (while another copy gives a key): a
   * reader is never sent to a copy that is not there.
   */
  async segmentKeys(segmentId: number, access: 'read' | 'read-write'): Promise<ReplicaKey[]> {
    const keys: ReplicaKey[] = [];
    const missing: string[] = [];
    let failure: unknown;
    for (const nodeId of this.placementOf(segmentId).replicas) {
      const node = this.nodes.get(nodeId)!;
      if (!node.up) continue;
      try {
        keys.push({ node: nodeId, address: node.storage.fastpathAddress, key: await node.storage.segmentKey(segmentId, access) });
      } catch (err) {
        failure ??= err;
        if (err instanceof StorageError && err.code === 'UNKNOWN_SEGMENT') missing.push(nodeId);
        else if (isUnreachable(err)) node.up = false;
        else throw err;
      }
    }
    if (keys.length === 0) {
      if (failure) throw failure;
      throw new BrokerError('KAFKA_STORAGE_ERROR', `no in-sync copy of segment ${segmentId} answers`);
    }
    // Not awaited: keys are asked for while readers are told of a change of the set, inside that change.
    if (missing.length > 0) {
      this.shrink(segmentId, missing, `storage node(s) ${missing.join(', ')} do not hold it`).catch((err: Error) =>
        this.policy?.log?.(`segment ${segmentId}: dropping copies that are not there failed: ${err.message}`),
      );
    }
    return keys;
  }

  /** Probes every node; the composite of their boot ids (the broker's single-node view). */
  async probe(): Promise<string> {
    const report = await this.probeReplicas();
    if (report.unavailable.size > 0) throw new StorageError('UNAVAILABLE', `segments ${[...report.unavailable].slice(0, 5).join(', ')} have no copy that answers`);
    return 'replicated';
  }

  /**
   * Probes every node. A node that does not answer, or answers with a new
   * boot id (it restarted: its keys changed and its copies may lag), leaves
   * the in-sync set of each segment another copy of which answers.
   */
  async probeReplicas(): Promise<ReplicaProbe> {
    const report: ReplicaProbe = { shrunk: new Set(), unavailable: new Set(), restarted: false, restartedOnly: new Set() };
    const lost: string[] = [];
    const restarted: string[] = [];
    await Promise.all(
      [...this.nodes].map(async ([nodeId, node]) => {
        try {
          const bootId = await node.storage.probe();
          if (bootId !== node.bootId) {
            this.policy?.log?.(`storage node ${nodeId} restarted; its copies leave the in-sync sets that have another`);
            node.bootId = bootId;
            report.restarted = true;
            restarted.push(nodeId);
            lost.push(nodeId);
          } else if (!node.up) {
            this.policy?.log?.(`storage node ${nodeId} answers again; its copies leave the in-sync sets that have another`);
            lost.push(nodeId);
          }
          node.up = true;
        } catch {
          if (node.up) this.policy?.log?.(`storage node ${nodeId} does not answer`);
          node.up = false;
          lost.push(nodeId);
        }
      }),
    );
    for (const [segmentId, placement] of this.placements) {
      const gone = placement.replicas.filter((id) => lost.includes(id));
      if (gone.length > 0 && gone.length < placement.replicas.length) {
        await this.shrink(segmentId, gone, `storage node(s) ${gone.join(', ')} lost`);
        report.shrunk.add(segmentId);
      }
      if (!placement.replicas.some((id) => this.nodes.get(id)!.up)) report.unavailable.add(segmentId);
      else if (placement.replicas.every((id) => restarted.includes(id))) report.restartedOnly.add(segmentId);
    }
    if (lost.some((id) => this.nodes.get(id)!.up)) await this.reconcileCopies();
    return report;
  }

  /**
   * What the nodes found damaged, as the segment's in-sync copies show it. A
   * copy holding damaged committed bytes that another in-sync copy holds
   * undamaged leaves the set (durably, as any copy out of sync; a sealed
   * segment is copied again from a good copy), so readers are not sent to it
   * and nothing another copy holds intact is fenced. Of the copies that
   * answer, the one with the fewest damaged ranges stays (the first in the
   * set among equals) with every copy damaged exactly where it is; the
   * others leave. So the copies left hold the same fenced ranges, and only
   * those are returned: damage every copy shares. A range returned once stays
   * on every copy until skipped (a copy joins only by copying, and a segment
   * with fenced ranges is not copied), so no fence the broker took is left
   * without its range in the storage.
   */
  async damage(): Promise<StorageDamage> {
    const ranges: FencedRange[] = [];
    const unreadableSlots: StorageDamage['unreadableSlots'] = [];
    const answered = new Set<string>();
    const bySegment = new Map<number, Map<string, FencedRange[]>>();
    for (const [nodeId, node] of this.nodes) {
      if (!node.up) continue;
      const d = await node.storage.damage();
      answered.add(nodeId);
      unreadableSlots.push(...d.unreadableSlots);
      for (const r of d.ranges) {
        // A segment nobody placed is the broker's to judge as it is.
        if (!this.placements.has(r.segmentId)) ranges.push(r);
        else {
          const copies = bySegment.get(r.segmentId) ?? new Map<string, FencedRange[]>();
          copies.set(nodeId, [...(copies.get(nodeId) ?? []), r]);
          bySegment.set(r.segmentId, copies);
        }
      }
    }
    for (const [segmentId, copies] of bySegment) {
      const judged = this.placementOf(segmentId).replicas.filter((id) => answered.has(id));
      // Damage only on copies out of the set: nothing a reader is sent to.
      if (!judged.some((id) => copies.has(id))) continue;
      const rangesOf = (id: string): FencedRange[] => copies.get(id) ?? [];
      const keeper = judged.reduce((best, id) => (rangesOf(id).length < rangesOf(best).length ? id : best));
      const kept = rangesOf(keeper);
      const leaving = judged.filter((id) => !sameRanges(rangesOf(id), kept));
      if (leaving.length > 0) {
        const where = leaving.map((id) => `${id} ${describeRanges(rangesOf(id).filter((r) => !kept.some((k) => sameRange(k, r))))}`).join('; ');
        await this.shrink(segmentId, leaving, `committed bytes damaged on ${where}, intact on ${keeper}`);
        for (const nodeId of leaving) this.damagedCopies.set(`${segmentId}:${nodeId}`, { segmentId, nodeId });
      }
      ranges.push(...kept);
    }
    return { ranges, unreadableSlots };
  }

  async skipFencedRange(segmentId: number, startPosition: number): Promise<FencedRange> {
    return this.onEveryCopy(segmentId, 'skip', (s) => s.skipFencedRange(segmentId, startPosition));
  }

  async scanProducers(segmentId: number): Promise<ProducerScan> {
    const nodeId = this.placementOf(segmentId).replicas.find((id) => this.nodes.get(id)!.up);
    if (!nodeId) throw new BrokerError('KAFKA_STORAGE_ERROR', `no in-sync copy of segment ${segmentId} answers`);
    return this.nodes.get(nodeId)!.storage.scanProducers(segmentId);
  }

  /**
   * Copies sealed segments short of copies to nodes that lack them: committed
   * bytes in chunks, then commit and seal there, then the node joins the set.
   * One pass; returns the copies made.
   */
  async reReplicate(isSealed: (segmentId: number) => boolean): Promise<number> {
    if (this.copying || !this.policy) return 0;
    this.copying = true;
    let made = 0;
    try {
      await this.retireDamagedCopies(isSealed);
      // Each source's fenced ranges, asked once a pass.
      const fencedOn = new Map<string, Promise<FencedRange[]>>();
      for (const segmentId of this.underReplicated()) {
        const placement = this.placements.get(segmentId);
        if (!placement || !isSealed(segmentId)) continue;
        const source = placement.replicas.find((id) => this.nodes.get(id)!.up);
        const target = this.placementOrder().find((id) => this.nodes.get(id)!.up && !placement.replicas.includes(id));
        if (!source || !target) continue;
        try {
          // A copy made now would hold the damaged bytes without their fence: copied once they are skipped.
          if (!fencedOn.has(source)) fencedOn.set(source, this.nodes.get(source)!.storage.damage().then((d) => d.ranges));
          const fenced = (await fencedOn.get(source)!).filter((r) => r.segmentId === segmentId);
          if (fenced.length > 0) {
            if (!this.notCopied.has(segmentId)) this.policy.log?.(`segment ${segmentId} is not copied to more nodes while it holds fenced ranges (${describeRanges(fenced)}); rdmq corruption skip replaces them`);
            this.notCopied.add(segmentId);
            continue;
          }
          this.notCopied.delete(segmentId);
          await this.copySegment(segmentId, source, target);
          made++;
        } catch (err) {
          this.policy.log?.(`copying segment ${segmentId} from ${source} to ${target} failed (${(err as Error).message}); trying again later`);
          await this.nodes.get(target)!.storage.free(segmentId).catch(() => undefined);
        }
      }
    } finally {
      this.copying = false;
    }
    return made;
  }

  close(): void {
    for (const node of this.nodes.values()) node.storage.close();
  }

  // -- internals --

  /**
   * Frees the copies that left their sets for damaged bytes, once their
   * segment is sealed (no producer puts there any more) and the durable set
   * leaves them out; a node that answers again takes copies like any other.
   */
  private async retireDamagedCopies(isSealed: (segmentId: number) => boolean): Promise<void> {
    for (const [key, { segmentId, nodeId }] of this.damagedCopies) {
      const placement = this.placements.get(segmentId);
      if (!placement) {
        this.damagedCopies.delete(key);
        continue;
      }
      const node = this.nodes.get(nodeId)!;
      if (placement.replicas.includes(nodeId) || !isSealed(segmentId) || !node.up) continue;
      const durable = this.policy?.durableReplicasOf ? this.policy.durableReplicasOf(segmentId, placement.topicId) : placement.replicas;
      if (durable?.includes(nodeId)) continue;
      try {
        await node.storage.free(segmentId);
      } catch (err) {
        this.policy?.log?.(`storage node ${nodeId}: retiring its damaged copy of segment ${segmentId} failed (${(err as Error).message}); trying again later`);
        continue;
      }
      this.damagedCopies.delete(key);
      this.policy?.log?.(`storage node ${nodeId}: retired its damaged copy of segment ${segmentId} (in sync on ${placement.replicas.join(', ')})`);
    }
  }

  private async copySegment(segmentId: number, sourceId: string, targetId: string): Promise<void> {
    const source = this.nodes.get(sourceId)!.storage;
    const target = this.nodes.get(targetId)!.storage;
    const header = (await source.describe()).find((s) => s.segmentId === segmentId);
    if (!header || !header.sealed) return;
    await target.free(segmentId).catch(() => undefined);
    // Sealed: nothing is written past its commit position, so the copy takes only that much room.
    const dataCapacityBytes = Math.max(header.commitPosition, 1);
    await target.allocate({ topicId: header.topicId, partition: header.partition, baseOffset: header.baseOffset, dataCapacityBytes, segmentId });
    for (let at = header.startPosition; at < header.commitPosition; at += COPY_CHUNK_BYTES) {
      const length = Math.min(COPY_CHUNK_BYTES, header.commitPosition - at);
      await target.writeData(segmentId, at, await source.readData(segmentId, at, length));
    }
    await target.commit(segmentId, { commitPosition: header.commitPosition, endOffset: header.endOffset, maxTimestamp: header.maxTimestamp });
    await target.seal(segmentId, header.commitPosition);
    const joined = await this.changeReplicas(segmentId, (replicas) => [...replicas, targetId]);
    if (!joined) {
      // Freed (retention, topic deleted) while it was copied.
      await target.free(segmentId).catch(() => undefined);
      return;
    }
    this.damagedCopies.delete(`${segmentId}:${targetId}`);
    this.policy?.log?.(`segment ${segmentId}: copied ${header.commitPosition - header.startPosition} bytes from ${sourceId} to ${targetId}; in sync on ${joined.join(', ')}`);
  }

  /** Drops nodes from a segment's in-sync set (never its last copy), durably first. */
  private async shrink(segmentId: number, nodeIds: string[], reason: string): Promise<void> {
    const left = await this.changeReplicas(segmentId, (replicas) => {
      const kept = replicas.filter((id) => !nodeIds.includes(id));
      return kept.length === 0 || kept.length === replicas.length ? undefined : kept;
    });
    if (left) this.policy?.log?.(`segment ${segmentId} in sync on ${left.join(', ')} only: ${reason}`);
  }

  /**
   * Persists the segment's in-sync set again (the broker calls it once the
   * metadata lists a segment whose set may have changed before it did).
   */
  async persistReplicas(segmentId: number): Promise<void> {
    await this.changeReplicas(segmentId, (replicas) => replicas, false);
  }

  /**
   * Changes a segment's in-sync set to `next(current)` (undefined: no change):
   * durably first, then in memory, then readers are told. One change at a
   * time, each from the set the previous one left: two at once (checks of one
   * segment's batches are in flight together, a copy joins while another
   * leaves) could each put back what the other changed. Resolves to the new
   * set, or undefined if the segment is gone or nothing changed.
   */
  private changeReplicas(segmentId: number, next: (replicas: string[]) => string[] | undefined, announce = true): Promise<string[] | undefined> {
    const run = this.replicaChanges.then(async () => {
      const placement = this.placements.get(segmentId);
      if (!placement) return undefined;
      const replicas = next([...placement.replicas]);
      if (!replicas) return undefined;
      await this.policyOrThrow().onReplicasChanged(segmentId, replicas, placement.topicId);
      placement.replicas = replicas;
      // Before anything more is published: a copy out of the set may miss what is written from now on.
      if (announce) await this.policy?.announceReplicas?.(segmentId);
      return replicas;
    });
    this.replicaChanges = run.catch(() => undefined);
    return run;
  }

  /**
   * Runs `call` on every in-sync copy. A copy whose node does not answer
   * leaves the set when another succeeded; the result is the first
   * success's. Fails when no copy succeeds, or when the copies still in sync
   * fall below min.insync.replicas.
   */
  private async onEveryCopy<T>(segmentId: number, what: string, call: (s: RemoteStorage) => Promise<T>): Promise<T> {
    const placement = this.placementOf(segmentId);
    const replicas = [...placement.replicas];
    const results = await Promise.allSettled(replicas.map((id) => call(this.nodes.get(id)!.storage)));
    const ok = results.findIndex((r) => r.status === 'fulfilled');
    const failed = replicas.filter((_, i) => results[i].status === 'rejected');
    if (ok < 0) throw (results[0] as PromiseRejectedResult).reason;
    if (failed.length > 0) {
      for (const id of failed) {
        const err = (results[replicas.indexOf(id)] as PromiseRejectedResult).reason;
        if (!isUnreachable(err)) throw err;
        this.nodes.get(id)!.up = false;
      }
      await this.shrink(segmentId, failed, `${what} failed there`);
    }
    const minInsync = this.policyOrThrow().minInsyncOf(placement.topicId);
    if (placement.replicas.length < minInsync) {
      throw new BrokerError('NOT_ENOUGH_REPLICAS', `segment ${segmentId} is in sync on ${placement.replicas.length} node(s), below min.insync.replicas=${minInsync}`);
    }
    return (results[ok] as PromiseFulfilledResult<T>).value;
  }

  /** Nodes by how many in-sync copies they hold, fewest first, so copies spread. */
  private placementOrder(): string[] {
    const load = new Map([...this.nodes.keys()].map((id) => [id, 0]));
    for (const p of this.placements.values()) for (const id of p.replicas) load.set(id, (load.get(id) ?? 0) + 1);
    return [...load].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1)).map(([id]) => id);
  }

  private placementOf(segmentId: number): Placement {
    const placement = this.placements.get(segmentId);
    if (!placement) throw new StorageError('UNKNOWN_SEGMENT', `segment ${segmentId} is not placed on any storage node`);
    return placement;
  }

  private policyOrThrow(): ReplicaPolicy {
    if (!this.policy) throw new Error('replicated storage used before the broker attached its policy');
    return this.policy;
  }

  /**
   * Compares what answering nodes hold with the in-sync sets. A copy held
   * outside its segment's set lags: it is freed, once the durable set leaves
   * it out too and a copy of the set answers (segments nobody placed are the
   * broker's to free). A copy a set lists but its node does not hold (a
   * leader retired it and stepped down before the log said so) leaves the set
   * while another listed node holds one, so no reader is sent to it.
   */
  private async reconcileCopies(): Promise<void> {
    // Sets as they were before any node was asked: a node joins a set only once its copy exists, so a node
    // listed here that answers without the segment has lost it (one that joins later is not judged by an older answer).
    const listedBefore = new Map([...this.placements].map(([id, p]) => [id, [...p.replicas]]));
    const held = new Map<string, Set<number>>();
    for (const [nodeId, node] of this.nodes) {
      if (!node.up) continue;
      let segments: SegmentDescriptor[];
      try {
        segments = await node.storage.describe();
      } catch {
        continue;
      }
      held.set(nodeId, new Set(segments.map((s) => s.segmentId)));
      for (const s of segments) {
        const placement = this.placements.get(s.segmentId);
        if (!placement || placement.replicas.includes(nodeId)) continue;
        if (!placement.replicas.some((id) => this.nodes.get(id)!.up)) continue;
        const durable = this.policy?.durableReplicasOf ? this.policy.durableReplicasOf(s.segmentId, placement.topicId) : placement.replicas;
        if (!durable || durable.includes(nodeId)) continue;
        this.policy?.log?.(`storage node ${nodeId}: retiring its stale copy of segment ${s.segmentId} (in sync on ${placement.replicas.join(', ')})`);
        await node.storage.free(s.segmentId).catch(() => undefined);
      }
    }
    for (const [segmentId, listed] of listedBefore) {
      const missing = listed.filter((id) => held.get(id)?.has(segmentId) === false);
      const holders = listed.filter((id) => held.get(id)?.has(segmentId) === true);
      if (missing.length > 0 && holders.length > 0) await this.shrink(segmentId, missing, `storage node(s) ${missing.join(', ')} do not hold it`);
    }
  }
}

function sameRange(a: FencedRange, b: FencedRange): boolean {
  return a.startPosition === b.startPosition && a.endPosition === b.endPosition;
}

function sameRanges(a: FencedRange[], b: FencedRange[]): boolean {
  return a.length === b.length && a.every((r) => b.some((s) => sameRange(r, s)));
}

function describeRanges(ranges: FencedRange[]): string {
  return ranges.map((r) => `bytes [${r.startPosition}, ${r.endPosition}) offsets [${r.baseOffset}, ${r.endOffset})`).join(', ');
}

function isInvalidBatch(err: unknown): boolean {
  return err instanceof StorageError && err.code === 'INVALID_BATCH';
}

/** A failure of the node or the network rather than an answer about the data. */
function isUnreachable(err: unknown): boolean {
  return err instanceof StorageError && (err.code === 'UNAVAILABLE' || err.code === 'CLOSED');
}
