// Kafka's classic (generic) group membership protocol as a transport-free
// state machine: JoinGroup, SyncGroup, Heartbeat, LeaveGroup, DescribeGroups,
// ListGroups, DeleteGroups, plus the membership check of OffsetCommit.
// Behaviour follows Kafka's GroupCoordinator.scala; where it differs, a
// comment says why. Committed offsets live in MetadataStore (topics.ts).
//
// JoinGroup and SyncGroup may park: their Promise resolves when Kafka would
// send the response. Time and timers are injected so tests drive them.
//
// Contract: single-threaded, like everything on the JS thread; every method
// runs to completion before another starts. Membership is in memory only: after
// a restart members get UNKNOWN_MEMBER_ID and rejoin, as after a coordinator
// move in Kafka.

import { randomUUID } from 'node:crypto';
import { ClassicGroup, EMPTY_BYTES, GroupMember, GroupProtocol, GroupState } from './groups/classic-group';
import type {
  DeleteGroupResult,
  DescribedGroup,
  ErrorResult,
  GroupErrorName,
  HeartbeatRequest,
  JoinGroupRequest,
  JoinGroupResult,
  LeaveGroupRequest,
  LeaveResult,
  ListGroupsResult,
  SyncGroupRequest,
  SyncGroupResult,
} from './groups/group-api';

export { GROUP_ERRORS } from './groups/group-api';
export type * from './groups/group-api';
export type { GroupState } from './groups/classic-group';

/** Schedules fn after ms; returns a function that cancels it. */
export type SetTimer = (fn: () => void, ms: number) => () => void;

export interface GroupCoordinatorOptions {
  /** group.initial.rebalance.delay.ms: how long a rebalance of an Empty group waits for more members. */
  initialRebalanceDelayMs?: number;
  /** group.min.session.timeout.ms. */
  minSessionTimeoutMs?: number;
  /** group.max.session.timeout.ms. */
  maxSessionTimeoutMs?: number;
  /** group.max.size. */
  maxMembersPerGroup?: number;
  /** Groups held at once; Empty groups are evicted oldest first to make room. */
  maxGroups?: number;
  /** A joining new member that never gets its JoinGroup response is dropped after this (Kafka: 5 min). */
  newMemberJoinTimeoutMs?: number;
  now?: () => number;
  setTimer?: SetTimer;
}

export const GROUP_COORDINATOR_DEFAULTS = {
  initialRebalanceDelayMs: 3000,
  minSessionTimeoutMs: 6000,
  maxSessionTimeoutMs: 1_800_000,
  maxMembersPerGroup: 1000,
  maxGroups: 100_000,
  newMemberJoinTimeoutMs: 300_000,
} as const;

/** Same bound as MetadataStore's, so a group that can join can also commit. */
export const MAX_GROUP_ID_LENGTH = 255;
/** A member listing more protocols than this is malformed, not a real client. */
export const MAX_PROTOCOLS_PER_MEMBER = 64;

// Node's setTimeout fires at once for delays above 2^31-1 ms; clamp instead.
const MAX_TIMER_MS = 2 ** 31 - 1;

const realTimer: SetTimer = (fn, ms) => {
  const handle = setTimeout(fn, Math.min(Math.max(ms, 0), MAX_TIMER_MS));
  return () => clearTimeout(handle);
};

type Settings = Required<Omit<GroupCoordinatorOptions, 'now' | 'setTimer'>>;

/** Group-scoped timers: the join (rebalance) deadline, the sync deadline, pending-member expiries. */
interface GroupTimers {
  cancelJoin: (() => void) | null;
  /** The join deadline is an initial delay: it does not complete early when everyone has joined. */
  joinIsInitialDelay: boolean;
  cancelSync: (() => void) | null;
  pendingMembers: Map<string, () => void>;
}

export class GroupCoordinator {
  private readonly settings: Settings;
  private readonly now: () => number;
  private readonly setTimer: SetTimer;
  private readonly groups = new Map<string, ClassicGroup>();
  private readonly timers = new Map<ClassicGroup, GroupTimers>();
  private closed = false;

  constructor(options: GroupCoordinatorOptions = {}) {
    this.settings = { ...GROUP_COORDINATOR_DEFAULTS, ...definedOnly(options) } as Settings;
    const s = this.settings;
    for (const [name, value] of Object.entries(s)) {
      if (!Number.isInteger(value) || value < 0) throw new RangeError(`group coordinator option ${name} must be an integer ≥ 0, got ${value}`);
    }
    if (s.minSessionTimeoutMs > s.maxSessionTimeoutMs) {
      throw new RangeError(`minSessionTimeoutMs ${s.minSessionTimeoutMs} exceeds maxSessionTimeoutMs ${s.maxSessionTimeoutMs}`);
    }
    if (s.maxMembersPerGroup < 1 || s.maxGroups < 1) throw new RangeError('maxMembersPerGroup and maxGroups must be ≥ 1');
    this.now = options.now ?? Date.now;
    this.setTimer = options.setTimer ?? realTimer;
  }

  // ---- JoinGroup -----------------------------------------------------------

  joinGroup(req: JoinGroupRequest): Promise<JoinGroupResult> {
    return new Promise((resolve) => this.handleJoin(req, resolve));
  }

  private handleJoin(req: JoinGroupRequest, respond: (r: JoinGroupResult) => void): void {
    const fail = (error: GroupErrorName, memberId = req.memberId) => respond(joinError(memberId, error));
    const statusError = this.statusError(req.groupId, false);
    if (statusError) return fail(statusError);
    const { minSessionTimeoutMs: min, maxSessionTimeoutMs: max } = this.settings;
    if (!Number.isInteger(req.sessionTimeoutMs) || req.sessionTimeoutMs < min || req.sessionTimeoutMs > max) {
      return fail('INVALID_SESSION_TIMEOUT');
    }
    if (req.protocols.length > MAX_PROTOCOLS_PER_MEMBER) return fail('INVALID_REQUEST');
    const join: NormalizedJoin = {
      ...req,
      groupInstanceId: req.groupInstanceId ?? null,
      clientHost: req.clientHost ?? '',
      rebalanceTimeoutMs: Number.isInteger(req.rebalanceTimeoutMs) && req.rebalanceTimeoutMs! >= 0 ? req.rebalanceTimeoutMs! : req.sessionTimeoutMs,
      protocols: uniqueByName(req.protocols),
    };
    const isNewMember = req.memberId === '';
    // A group is created only by a member without an id; a known id for an unknown group is stale.
    let group = this.groups.get(req.groupId);
    if (!group) {
      if (!isNewMember) return fail('UNKNOWN_MEMBER_ID');
      const created = this.createGroup(req.groupId);
      if (!created) return fail('COORDINATOR_NOT_AVAILABLE');
      group = created;
    }
    if (!this.acceptJoiningMember(group, req.memberId, join.groupInstanceId)) {
      // Kafka removes an over-capacity member that did not rejoin, shrinking the group.
      if (group.has(req.memberId)) this.removeMemberAndUpdateGroup(group, group.get(req.memberId));
      else if (group.pendingMembers.has(req.memberId)) this.removePendingMember(group, req.memberId);
      fail('GROUP_MAX_SIZE_REACHED', '');
    } else if (isNewMember) {
      this.newMemberJoin(group, join, respond);
    } else {
      this.currentMemberJoin(group, join, respond);
    }
    if (group.is('PreparingRebalance')) this.maybeCompleteJoin(group);
    this.dropIfUnused(group);
  }

  /**
   * Kafka's acceptJoiningMember, plus a bound on member ids handed out with
   * MEMBER_ID_REQUIRED and not yet used. Unlike Kafka, a restarting static member
   * is let in whenever it does not grow what it is counted against: it takes its
   * own place.
   */
  private acceptJoiningMember(group: ClassicGroup, memberId: string, groupInstanceId: string | null): boolean {
    const max = this.settings.maxMembersPerGroup;
    const staticMemberId = memberId === '' && groupInstanceId !== null ? group.staticMembers.get(groupInstanceId) : undefined;
    if (staticMemberId !== undefined) {
      if (!group.is('PreparingRebalance') || group.get(staticMemberId).awaitingJoin !== null) return true;
      return group.numAwaitingJoin < max;
    }
    const roomForNewId = memberId !== '' || group.pendingMembers.size < max;
    switch (group.state) {
      case 'Empty':
      case 'Dead':
        return roomForNewId;
      case 'PreparingRebalance':
        // Counting members that already rejoined (not the group size, which may exceed a lowered
        // bound) turns the last rejoiners away.
        if (group.has(memberId) && group.get(memberId).awaitingJoin !== null) return true;
        return group.numAwaitingJoin < max && roomForNewId;
      case 'CompletingRebalance':
      case 'Stable':
        return group.has(memberId) || (group.size < max && roomForNewId);
    }
  }

  private newMemberJoin(group: ClassicGroup, join: NormalizedJoin, respond: (r: JoinGroupResult) => void): void {
    if (group.is('Dead')) return respond(joinError('', 'COORDINATOR_NOT_AVAILABLE'));
    if (!group.supportsProtocols(join.protocolType, join.protocols.map((p) => p.name))) {
      return respond(joinError('', 'INCONSISTENT_GROUP_PROTOCOL'));
    }
    const newMemberId = `${join.groupInstanceId ?? join.clientId}-${randomUUID()}`;
    if (join.groupInstanceId !== null) {
      const oldMemberId = group.staticMembers.get(join.groupInstanceId);
      if (oldMemberId !== undefined) return this.replaceStaticMember(group, oldMemberId, newMemberId, join, respond);
      return this.addMemberAndRebalance(group, newMemberId, join, respond);
    }
    if (join.requireKnownMemberId) {
      // Hand out an id first, so a client that times out and retries does not leave a ghost member behind.
      group.pendingMembers.add(newMemberId);
      this.schedulePendingMemberExpiry(group, newMemberId, join.sessionTimeoutMs);
      return respond(joinError(newMemberId, 'MEMBER_ID_REQUIRED'));
    }
    this.addMemberAndRebalance(group, newMemberId, join, respond);
  }

  private currentMemberJoin(group: ClassicGroup, join: NormalizedJoin, respond: (r: JoinGroupResult) => void): void {
    const memberId = join.memberId;
    if (group.is('Dead')) return respond(joinError(memberId, 'COORDINATOR_NOT_AVAILABLE'));
    if (!group.supportsProtocols(join.protocolType, join.protocols.map((p) => p.name))) {
      return respond(joinError(memberId, 'INCONSISTENT_GROUP_PROTOCOL'));
    }
    if (group.pendingMembers.has(memberId)) {
      // A pending id came from MEMBER_ID_REQUIRED, which only dynamic members get.
      if (join.groupInstanceId !== null) return respond(joinError(memberId, 'INVALID_REQUEST'));
      return this.addMemberAndRebalance(group, memberId, join, respond);
    }
    const memberError = this.validateCurrentMember(group, memberId, join.groupInstanceId);
    if (memberError) return respond(joinError(memberId, memberError));
    const member = group.get(memberId);
    switch (group.state) {
      case 'PreparingRebalance':
        return this.updateMemberAndRebalance(group, member, join, respond);
      case 'CompletingRebalance':
        // Same metadata: the member most likely lost its JoinGroup response; send it again.
        if (member.matches(join.protocols)) return respond(this.joinResponse(group, member, group.isLeader(memberId)));
        return this.updateMemberAndRebalance(group, member, join, respond);
      case 'Stable':
        // A leader rejoining asks for a new assignment (e.g. topic metadata changed); so does new metadata.
        if (group.isLeader(memberId) || !member.matches(join.protocols)) return this.updateMemberAndRebalance(group, member, join, respond);
        return respond(this.joinResponse(group, member, false));
      case 'Empty':
      case 'Dead':
        return respond(joinError(memberId, 'UNKNOWN_MEMBER_ID'));
    }
  }

  private addMemberAndRebalance(group: ClassicGroup, memberId: string, join: NormalizedJoin, respond: (r: JoinGroupResult) => void): void {
    const member = new GroupMember(
      memberId,
      join.groupInstanceId,
      join.clientId,
      join.clientHost,
      join.rebalanceTimeoutMs,
      join.sessionTimeoutMs,
      join.protocolType,
      join.protocols,
    );
    member.isNew = true;
    if (group.is('PreparingRebalance') && group.generationId === 0) group.newMemberAdded = true;
    this.timersOf(group).pendingMembers.get(memberId)?.();
    this.timersOf(group).pendingMembers.delete(memberId);
    group.add(member);
    this.setAwaitingJoin(member, respond);
    // A new member cannot heartbeat until it has its id, and a parked JoinGroup hides a
    // disconnect; so a JoinGroup that is never answered drops the member after a while.
    this.scheduleExpiry(group, member, this.settings.newMemberJoinTimeoutMs);
    this.maybePrepareRebalance(group);
  }

  private updateMemberAndRebalance(group: ClassicGroup, member: GroupMember, join: NormalizedJoin, respond: (r: JoinGroupResult) => void): void {
    group.updateMember(member, join.protocols, join.rebalanceTimeoutMs, join.sessionTimeoutMs);
    this.setAwaitingJoin(member, respond);
    this.maybePrepareRebalance(group);
  }

  /**
   * A static member restarted (same instance id, no member id): it takes the old
   * member's place under a new id. In a Stable group whose protocol choice does not
   * change this needs no rebalance: the member gets the current generation back.
   */
  private replaceStaticMember(
    group: ClassicGroup,
    oldMemberId: string,
    newMemberId: string,
    join: NormalizedJoin,
    respond: (r: JoinGroupResult) => void,
  ): void {
    const currentLeader = group.leaderId;
    const old = group.get(oldMemberId);
    // Whoever still uses the old id is a zombie of the same instance: fence its parked requests.
    this.resolveJoin(old, joinError(oldMemberId, 'FENCED_INSTANCE_ID'));
    this.resolveSync(old, syncError('FENCED_INSTANCE_ID'));
    const member = group.replaceStaticMember(join.groupInstanceId!, oldMemberId, newMemberId);
    this.scheduleExpiry(group, member, member.sessionTimeoutMs);
    group.updateMember(member, join.protocols, join.rebalanceTimeoutMs, join.sessionTimeoutMs);
    this.setAwaitingJoin(member, respond);
    switch (group.state) {
      case 'Stable': {
        if (group.protocolName !== group.selectProtocol()) return this.maybePrepareRebalance(group);
        if (join.supportSkippingAssignment) {
          // v9+: tell a returning leader it leads, but that the assignment stands (assignors are not idempotent).
          const isLeader = group.isLeader(newMemberId);
          this.resolveJoin(member, { ...this.joinResponse(group, member, isLeader), skipAssignment: isLeader });
          return;
        }
        // Before v9: report the old leader id so a returning leader does not think it must assign;
        // a Stable group would not pass its new assignment on anyway.
        this.resolveJoin(member, { ...this.joinResponse(group, member, false), leaderId: currentLeader ?? '' });
        return;
      }
      case 'CompletingRebalance':
        // The leader may be assigning to the old id; only a new generation gets the new id an assignment.
        return this.prepareRebalance(group);
      case 'PreparingRebalance':
        return; // parked with the new id until the rebalance completes
      case 'Empty':
      case 'Dead':
        throw new Error(`group ${group.groupId} in state ${group.state} cannot have static member ${join.groupInstanceId}`);
    }
  }

  // ---- Rebalance -------------------------------------------------------------

  private maybePrepareRebalance(group: ClassicGroup): void {
    if (group.canRebalance) this.prepareRebalance(group);
  }

  private prepareRebalance(group: ClassicGroup): void {
    // Members waiting for an assignment of the generation being abandoned must rejoin.
    if (group.is('CompletingRebalance')) this.resetAndPropagateAssignmentError(group, 'REBALANCE_IN_PROGRESS');
    this.cancelSyncDeadline(group);
    group.pendingSyncMembers.clear();
    const wasEmpty = group.is('Empty');
    const rebalanceTimeoutMs = group.rebalanceTimeoutMs;
    group.transitionTo('PreparingRebalance', this.now());
    const delayMs = this.settings.initialRebalanceDelayMs;
    // With no initial delay configured, a first rebalance is an ordinary one.
    if (wasEmpty && delayMs > 0) {
      this.scheduleInitialJoinDelay(group, delayMs, Math.max(rebalanceTimeoutMs - delayMs, 0));
    } else {
      this.scheduleJoinDeadline(group, rebalanceTimeoutMs);
      this.maybeCompleteJoin(group);
    }
  }

  private scheduleJoinDeadline(group: ClassicGroup, timeoutMs: number): void {
    const timers = this.timersOf(group);
    timers.cancelJoin?.();
    timers.joinIsInitialDelay = false;
    timers.cancelJoin = this.setTimer(() => {
      timers.cancelJoin = null;
      this.completeJoin(group);
    }, timeoutMs);
  }

  /**
   * Kafka's InitialDelayedJoin: the first rebalance of an Empty group waits delayMs,
   * and again (up to the rebalance timeout) as long as new members keep arriving,
   * so a group of consumers starting together forms in one generation.
   */
  private scheduleInitialJoinDelay(group: ClassicGroup, delayMs: number, remainingMs: number): void {
    const timers = this.timersOf(group);
    timers.cancelJoin?.();
    timers.joinIsInitialDelay = true;
    timers.cancelJoin = this.setTimer(() => {
      timers.cancelJoin = null;
      if (group.newMemberAdded && remainingMs !== 0) {
        group.newMemberAdded = false;
        const nextDelayMs = Math.min(this.settings.initialRebalanceDelayMs, remainingMs);
        this.scheduleInitialJoinDelay(group, nextDelayMs, Math.max(remainingMs - delayMs, 0));
      } else {
        this.completeJoin(group);
      }
    }, delayMs);
  }

  /** Completes the join phase early once every member (and every pending member id) has joined. */
  private maybeCompleteJoin(group: ClassicGroup): void {
    const timers = this.timersOf(group);
    if (group.is('PreparingRebalance') && !timers.joinIsInitialDelay && group.hasAllMembersJoined) this.completeJoin(group);
  }

  private completeJoin(group: ClassicGroup): void {
    if (this.closed || !group.is('PreparingRebalance')) return;
    const timers = this.timersOf(group);
    timers.cancelJoin?.();
    timers.cancelJoin = null;
    timers.joinIsInitialDelay = false;
    // Dynamic members that did not rejoin in time are gone; static ones stay until their session
    // expires, unless keeping them would form a generation above the size bound (Kafka keeps them).
    const overCapacity = group.size > this.settings.maxMembersPerGroup;
    for (const member of [...group.members.values()]) {
      if (!member.awaitingJoin && (!member.isStatic || overCapacity)) this.removeMember(group, member);
    }
    if (!group.maybeElectNewJoinedLeader() && group.size > 0) {
      // Only absent static members are left: wait another round for them to return or expire.
      this.scheduleJoinDeadline(group, group.rebalanceTimeoutMs);
      return;
    }
    group.initNextGeneration(this.now());
    if (group.is('Empty')) return;
    for (const member of group.members.values()) {
      this.resolveJoin(member, this.joinResponse(group, member, group.isLeader(member.memberId)));
      this.scheduleExpiry(group, member, member.sessionTimeoutMs);
      member.isNew = false;
      group.pendingSyncMembers.add(member.memberId);
    }
    this.scheduleSyncDeadline(group);
  }

  /** Members that got a JoinGroup response but never send SyncGroup are removed after the rebalance timeout. */
  private scheduleSyncDeadline(group: ClassicGroup): void {
    const timers = this.timersOf(group);
    timers.cancelSync?.();
    const generationId = group.generationId;
    timers.cancelSync = this.setTimer(() => {
      timers.cancelSync = null;
      if (this.closed || generationId !== group.generationId) return;
      if (!group.is('CompletingRebalance') && !group.is('Stable')) return;
      if (group.pendingSyncMembers.size === 0) return;
      for (const memberId of [...group.pendingSyncMembers]) this.removeMember(group, group.get(memberId));
      this.prepareRebalance(group);
    }, group.rebalanceTimeoutMs);
  }

  private cancelSyncDeadline(group: ClassicGroup): void {
    const timers = this.timersOf(group);
    timers.cancelSync?.();
    timers.cancelSync = null;
  }

  private removePendingSyncMember(group: ClassicGroup, memberId: string): void {
    group.pendingSyncMembers.delete(memberId);
    if (group.pendingSyncMembers.size === 0) this.cancelSyncDeadline(group);
  }

  // ---- SyncGroup -------------------------------------------------------------

  syncGroup(req: SyncGroupRequest): Promise<SyncGroupResult> {
    return new Promise((resolve) => this.handleSync(req, resolve));
  }

  private handleSync(req: SyncGroupRequest, respond: (r: SyncGroupResult) => void): void {
    const statusError = this.statusError(req.groupId, false);
    if (statusError) return respond(syncError(statusError));
    const group = this.groups.get(req.groupId);
    if (!group) return respond(syncError('UNKNOWN_MEMBER_ID'));
    const error = this.validateSync(group, req);
    if (error) return respond(syncError(error));
    const member = group.get(req.memberId);
    switch (group.state) {
      case 'Empty':
        return respond(syncError('UNKNOWN_MEMBER_ID'));
      case 'PreparingRebalance':
        return respond(syncError('REBALANCE_IN_PROGRESS'));
      case 'CompletingRebalance': {
        // Kafka silently replaces a duplicate parked SyncGroup; we answer the old one so no response is lost.
        this.resolveSync(member, syncError('REBALANCE_IN_PROGRESS'));
        member.awaitingSync = respond;
        this.removePendingSyncMember(group, member.memberId);
        if (group.isLeader(member.memberId)) {
          const assignments = new Map(req.assignments.map((a) => [a.memberId, a.assignment]));
          for (const m of group.members.values()) m.assignment = assignments.get(m.memberId) ?? EMPTY_BYTES;
          this.propagateAssignment(group, 'NONE');
          group.transitionTo('Stable', this.now());
        }
        return;
      }
      case 'Stable':
        this.removePendingSyncMember(group, member.memberId);
        respond({ error: 'NONE', protocolType: group.protocolType, protocolName: group.protocolName, assignment: member.assignment });
        this.scheduleExpiry(group, member, member.sessionTimeoutMs);
        return;
      case 'Dead':
        return respond(syncError('COORDINATOR_NOT_AVAILABLE'));
    }
  }

  private validateSync(group: ClassicGroup, req: SyncGroupRequest): GroupErrorName | null {
    if (group.is('Dead')) return 'COORDINATOR_NOT_AVAILABLE';
    const memberError = this.validateCurrentMember(group, req.memberId, req.groupInstanceId ?? null);
    if (memberError) return memberError;
    if (req.generationId !== group.generationId) return 'ILLEGAL_GENERATION';
    if (req.protocolType != null && req.protocolType !== group.protocolType) return 'INCONSISTENT_GROUP_PROTOCOL';
    if (req.protocolName != null && req.protocolName !== group.protocolName) return 'INCONSISTENT_GROUP_PROTOCOL';
    return null;
  }

  private resetAndPropagateAssignmentError(group: ClassicGroup, error: GroupErrorName): void {
    for (const member of group.members.values()) member.assignment = EMPTY_BYTES;
    this.propagateAssignment(group, error);
  }

  private propagateAssignment(group: ClassicGroup, error: GroupErrorName): void {
    for (const member of group.members.values()) {
      const result: SyncGroupResult =
        error === 'NONE' ? { error, protocolType: group.protocolType, protocolName: group.protocolName, assignment: member.assignment } : syncError(error);
      // The session clock restarts when a member gets its answer: while parked it could not heartbeat.
      if (this.resolveSync(member, result)) this.scheduleExpiry(group, member, member.sessionTimeoutMs);
    }
  }

  // ---- Heartbeat -------------------------------------------------------------

  heartbeat(req: HeartbeatRequest): ErrorResult {
    const statusError = this.statusError(req.groupId, false);
    if (statusError) return { error: statusError };
    const group = this.groups.get(req.groupId);
    if (!group) return { error: 'UNKNOWN_MEMBER_ID' };
    if (group.is('Dead')) return { error: 'COORDINATOR_NOT_AVAILABLE' };
    const memberError = this.validateCurrentMember(group, req.memberId, req.groupInstanceId ?? null);
    if (memberError) return { error: memberError };
    if (req.generationId !== group.generationId) return { error: 'ILLEGAL_GENERATION' };
    const member = group.get(req.memberId);
    switch (group.state) {
      case 'Empty':
      case 'Dead':
        return { error: 'UNKNOWN_MEMBER_ID' };
      case 'PreparingRebalance':
        this.scheduleExpiry(group, member, member.sessionTimeoutMs);
        return { error: 'REBALANCE_IN_PROGRESS' };
      case 'CompletingRebalance':
      case 'Stable':
        this.scheduleExpiry(group, member, member.sessionTimeoutMs);
        return { error: 'NONE' };
    }
  }

  // ---- LeaveGroup ------------------------------------------------------------

  /**
   * v0–2 send one member and carry its error at the top level: use
   * `members[0].error` when `error` is NONE. v3+ return the list as is.
   */
  leaveGroup(req: LeaveGroupRequest): LeaveResult {
    const statusError = this.statusError(req.groupId, false);
    if (statusError) return { error: statusError, members: [] };
    const group = this.groups.get(req.groupId);
    const outcome = (m: { memberId: string; groupInstanceId?: string | null }, error: GroupErrorName) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId ?? null,
      error,
    });
    if (!group) return { error: 'NONE', members: req.members.map((m) => outcome(m, 'UNKNOWN_MEMBER_ID')) };
    if (group.is('Dead')) return { error: 'COORDINATOR_NOT_AVAILABLE', members: [] };
    const members = req.members.map((leaving) => outcome(leaving, this.leaveOne(group, leaving.memberId, leaving.groupInstanceId ?? null)));
    this.dropIfUnused(group);
    return { error: 'NONE', members };
  }

  private leaveOne(group: ClassicGroup, memberId: string, groupInstanceId: string | null): GroupErrorName {
    if (memberId === '') {
      // Administrative removal of a static member by its instance id.
      const currentId = groupInstanceId === null ? undefined : group.staticMembers.get(groupInstanceId);
      if (currentId === undefined) return 'UNKNOWN_MEMBER_ID';
      this.removeMemberAndUpdateGroup(group, group.get(currentId));
      return 'NONE';
    }
    if (group.pendingMembers.has(memberId)) {
      this.removePendingMember(group, memberId);
      return 'NONE';
    }
    const error = this.validateCurrentMember(group, memberId, groupInstanceId);
    if (error) return error;
    this.removeMemberAndUpdateGroup(group, group.get(memberId));
    return 'NONE';
  }

  // ---- OffsetCommit membership -------------------------------------------------

  /**
   * Whether an OffsetCommit (or TxnOffsetCommit with `transactional`) may store
   * offsets; null when it may. memberId '' with generation -1 is a simple
   * (standalone or admin) commit, allowed only while the group has no members.
   * A valid commit from a member counts as a heartbeat, as in Kafka.
   */
  validateCommit(groupId: string, memberId: string, generationId: number, groupInstanceId: string | null = null, transactional = false): GroupErrorName | null {
    if (this.closed) return 'COORDINATOR_NOT_AVAILABLE';
    if (groupId.length > MAX_GROUP_ID_LENGTH) return 'INVALID_GROUP_ID';
    const group = this.groups.get(groupId);
    // Unknown (or deleted, i.e. Dead) group: only a commit that relies on no membership.
    if (!group) return generationId < 0 ? null : 'ILLEGAL_GENERATION';
    if (group.is('Dead')) return 'COORDINATOR_NOT_AVAILABLE';
    if (generationId < 0 && group.is('Empty')) return null;
    if (generationId >= 0 || memberId !== '' || groupInstanceId !== null) {
      const error = this.validateCurrentMember(group, memberId, groupInstanceId);
      if (error) return error;
      if (generationId !== group.generationId) return 'ILLEGAL_GENERATION';
    } else if (!transactional && !group.is('Empty')) {
      return 'UNKNOWN_MEMBER_ID';
    } else {
      return null;
    }
    switch (group.state) {
      case 'CompletingRebalance':
        // The member has this generation's JoinGroup response but no assignment yet.
        return 'REBALANCE_IN_PROGRESS';
      case 'Stable':
      case 'PreparingRebalance': {
        // Commits of the previous generation are still fine while rebalancing; the heartbeat says rejoin.
        const member = group.get(memberId);
        this.scheduleExpiry(group, member, member.sessionTimeoutMs);
        return null;
      }
      case 'Empty':
      case 'Dead':
        return null;
    }
  }

  // ---- DescribeGroups / ListGroups / DeleteGroups --------------------------------

  describeGroups(groupIds: string[]): DescribedGroup[] {
    return groupIds.map((groupId): DescribedGroup => {
      const statusError = this.statusError(groupId, true);
      if (statusError) return { groupId, error: statusError, state: '', protocolType: '', protocolData: '', members: [] };
      const group = this.groups.get(groupId);
      if (!group) return { groupId, error: 'NONE', state: 'Dead', protocolType: '', protocolData: '', members: [] };
      const stable = group.is('Stable');
      return {
        groupId,
        error: 'NONE',
        state: group.state,
        protocolType: group.protocolType ?? '',
        protocolData: stable ? (group.protocolName ?? '') : '',
        members: [...group.members.values()].map((m) => ({
          memberId: m.memberId,
          groupInstanceId: m.groupInstanceId,
          clientId: m.clientId,
          clientHost: m.clientHost,
          metadata: stable ? m.metadataFor(group.protocolName!) : EMPTY_BYTES,
          assignment: stable ? m.assignment : EMPTY_BYTES,
        })),
      };
    });
  }

  /** statesFilter (ListGroups v4+) is case-insensitive; empty or absent lists every group. */
  listGroups(statesFilter: string[] = []): ListGroupsResult {
    if (this.closed) return { error: 'COORDINATOR_NOT_AVAILABLE', groups: [] };
    const wanted = new Set(statesFilter.map((s) => s.toLowerCase()));
    const groups = [...this.groups.values()]
      .filter((g) => !g.is('Dead') && (wanted.size === 0 || wanted.has(g.state.toLowerCase())))
      .map((g) => ({ groupId: g.groupId, protocolType: g.protocolType ?? '', state: g.state }))
      .sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0));
    return { error: 'NONE', groups };
  }

  /**
   * Deletes Empty groups. NONE and GROUP_ID_NOT_FOUND both leave the caller to
   * delete the group's committed offsets (MetadataStore.deleteGroup), which may
   * exist for a group this coordinator never saw.
   */
  deleteGroups(groupIds: string[]): DeleteGroupResult[] {
    return [...new Set(groupIds)].map((groupId): DeleteGroupResult => {
      const statusError = this.statusError(groupId, true);
      if (statusError) return { groupId, error: statusError };
      const group = this.groups.get(groupId);
      if (!group || group.is('Dead')) return { groupId, error: 'GROUP_ID_NOT_FOUND' };
      if (!group.is('Empty')) return { groupId, error: 'NON_EMPTY_GROUP' };
      this.discardGroup(group);
      return { groupId, error: 'NONE' };
    });
  }

  // ---- Lifecycle -----------------------------------------------------------------

  /** Cancels every timer and answers every parked JoinGroup/SyncGroup with COORDINATOR_NOT_AVAILABLE. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const group of [...this.groups.values()]) {
      for (const member of group.members.values()) {
        this.resolveJoin(member, joinError(member.memberId, 'COORDINATOR_NOT_AVAILABLE'));
        this.resolveSync(member, syncError('COORDINATOR_NOT_AVAILABLE'));
      }
      this.discardGroup(group);
    }
  }

  /** For tests and metrics: the group's state, or undefined when unknown. */
  groupState(groupId: string): GroupState | undefined {
    return this.groups.get(groupId)?.state;
  }

  get groupCount(): number {
    return this.groups.size;
  }

  // ---- Members and timers ----------------------------------------------------------

  /**
   * Kafka's validateCurrentMember: with an instance id, it must map to this member
   * id (else the caller is a fenced zombie); without one, the member id must exist.
   */
  private validateCurrentMember(group: ClassicGroup, memberId: string, groupInstanceId: string | null): GroupErrorName | null {
    if (groupInstanceId !== null) {
      const currentId = group.staticMembers.get(groupInstanceId);
      if (currentId === undefined) return 'UNKNOWN_MEMBER_ID';
      if (currentId !== memberId) return 'FENCED_INSTANCE_ID';
      return null;
    }
    return group.has(memberId) ? null : 'UNKNOWN_MEMBER_ID';
  }

  private removeMemberAndUpdateGroup(group: ClassicGroup, member: GroupMember): void {
    this.removeMember(group, member);
    switch (group.state) {
      case 'Stable':
      case 'CompletingRebalance':
        return this.maybePrepareRebalance(group);
      case 'PreparingRebalance':
        return this.maybeCompleteJoin(group);
      case 'Empty':
      case 'Dead':
        return;
    }
  }

  /**
   * Takes a member out and answers whatever it has parked. Kafka answers only a
   * parked JoinGroup; we also answer a parked SyncGroup so no request hangs.
   */
  private removeMember(group: ClassicGroup, member: GroupMember): void {
    member.cancelExpiry?.();
    member.cancelExpiry = null;
    this.resolveJoin(member, joinError('', 'UNKNOWN_MEMBER_ID'));
    this.resolveSync(member, syncError('UNKNOWN_MEMBER_ID'));
    group.remove(member.memberId);
  }

  private removePendingMember(group: ClassicGroup, memberId: string): void {
    const timers = this.timersOf(group);
    timers.pendingMembers.get(memberId)?.();
    timers.pendingMembers.delete(memberId);
    group.remove(memberId);
    if (group.is('PreparingRebalance')) this.maybeCompleteJoin(group);
  }

  private schedulePendingMemberExpiry(group: ClassicGroup, memberId: string, timeoutMs: number): void {
    const timers = this.timersOf(group);
    timers.pendingMembers.get(memberId)?.();
    timers.pendingMembers.set(
      memberId,
      this.setTimer(() => {
        timers.pendingMembers.delete(memberId);
        if (this.closed || !group.pendingMembers.has(memberId)) return;
        this.removePendingMember(group, memberId);
        this.dropIfUnused(group);
      }, timeoutMs),
    );
  }

  /**
   * (Re)starts a member's session timer. When it fires, a member that is parked in
   * JoinGroup or SyncGroup is spared (it cannot heartbeat while parked, and answering
   * it restarts the timer) unless it is a new member that never got a JoinGroup answer.
   */
  private scheduleExpiry(group: ClassicGroup, member: GroupMember, timeoutMs: number): void {
    member.cancelExpiry?.();
    member.cancelExpiry = this.setTimer(() => {
      member.cancelExpiry = null;
      if (this.closed || group.members.get(member.memberId) !== member) return;
      const parked = member.awaitingJoin !== null || member.awaitingSync !== null;
      if (parked && !member.isNew) return;
      this.removeMemberAndUpdateGroup(group, member);
      this.dropIfUnused(group);
    }, timeoutMs);
  }

  private setAwaitingJoin(member: GroupMember, respond: (r: JoinGroupResult) => void): void {
    // Kafka drops a superseded parked JoinGroup silently; answering it keeps the gateway from leaking it.
    this.resolveJoin(member, joinError(member.memberId, 'REBALANCE_IN_PROGRESS'));
    member.awaitingJoin = respond;
  }

  private resolveJoin(member: GroupMember, result: JoinGroupResult): boolean {
    const respond = member.awaitingJoin;
    if (!respond) return false;
    member.awaitingJoin = null;
    respond(result);
    return true;
  }

  private resolveSync(member: GroupMember, result: SyncGroupResult): boolean {
    const respond = member.awaitingSync;
    if (!respond) return false;
    member.awaitingSync = null;
    respond(result);
    return true;
  }

  private joinResponse(group: ClassicGroup, member: GroupMember, withMembers: boolean): JoinGroupResult {
    return {
      error: 'NONE',
      generationId: group.generationId,
      protocolType: group.protocolType,
      protocolName: group.protocolName,
      leaderId: group.leaderId ?? '',
      skipAssignment: false,
      memberId: member.memberId,
      members: withMembers ? group.currentMemberMetadata() : [],
    };
  }

  // ---- Groups ------------------------------------------------------------------------

  /** Kafka's validateGroupStatus: DescribeGroups and DeleteGroups accept the empty group id. */
  private statusError(groupId: string, allowEmptyId: boolean): GroupErrorName | null {
    if (typeof groupId !== 'string' || (!allowEmptyId && groupId.length === 0) || groupId.length > MAX_GROUP_ID_LENGTH) {
      return 'INVALID_GROUP_ID';
    }
    return this.closed ? 'COORDINATOR_NOT_AVAILABLE' : null;
  }

  /** A new Empty group, evicting the longest-Empty group when full; null when every group is in use. */
  private createGroup(groupId: string): ClassicGroup | null {
    if (this.groups.size >= this.settings.maxGroups) {
      let oldest: ClassicGroup | null = null;
      for (const g of this.groups.values()) {
        if (g.is('Empty') && g.pendingMembers.size === 0 && (!oldest || g.stateSinceMs < oldest.stateSinceMs)) oldest = g;
      }
      if (!oldest) return null;
      this.discardGroup(oldest);
    }
    const group = new ClassicGroup(groupId, this.now());
    this.groups.set(groupId, group);
    this.timers.set(group, { cancelJoin: null, joinIsInitialDelay: false, cancelSync: null, pendingMembers: new Map() });
    return group;
  }

  /**
   * Forgets a group that never formed (a rejected first join, an expired pending id),
   * so failed joins cannot fill the group table. An Empty group with history is kept,
   * as Kafka keeps it, until deleted or evicted.
   */
  private dropIfUnused(group: ClassicGroup): void {
    if (group.is('Empty') && group.generationId === 0 && group.size === 0 && group.pendingMembers.size === 0) this.discardGroup(group);
  }

  private discardGroup(group: ClassicGroup): void {
    const timers = this.timersOf(group);
    timers.cancelJoin?.();
    timers.cancelSync?.();
    for (const cancel of timers.pendingMembers.values()) cancel();
    for (const member of group.members.values()) member.cancelExpiry?.();
    group.transitionTo('Dead', this.now());
    this.timers.delete(group);
    if (this.groups.get(group.groupId) === group) this.groups.delete(group.groupId);
  }

  private timersOf(group: ClassicGroup): GroupTimers {
    const timers = this.timers.get(group);
    if (!timers) throw new Error(`group ${group.groupId} has no timers: it was discarded`);
    return timers;
  }
}

interface NormalizedJoin {
  groupId: string;
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  protocolType: string;
  protocols: GroupProtocol[];
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  requireKnownMemberId?: boolean;
  supportSkippingAssignment?: boolean;
}

function joinError(memberId: string, error: GroupErrorName): JoinGroupResult {
  return { error, generationId: -1, protocolType: null, protocolName: null, leaderId: '', skipAssignment: false, memberId, members: [] };
}

function syncError(error: GroupErrorName): SyncGroupResult {
  return { error, protocolType: null, protocolName: null, assignment: EMPTY_BYTES };
}

/** A protocol named twice counts once (first wins), as in Kafka's keyed protocol collection. */
function uniqueByName(protocols: readonly GroupProtocol[]): GroupProtocol[] {
  const seen = new Set<string>();
  return protocols.filter((p) => (seen.has(p.name) ? false : (seen.add(p.name), true)));
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([k, v]) => v !== undefined && k !== 'now' && k !== 'setTimer')) as Partial<T>;
}
