// One classic (generic) consumer group: its members, state, generation and
// chosen protocol. Pure bookkeeping with no timers and no I/O; the
// GroupCoordinator drives the transitions and owns the waiting requests.
// Mirrors Kafka's GroupMetadata/MemberMetadata (core/.../coordinator/group).
//
// Not safe to share between coordinators; every call is synchronous.

import type { JoinGroupResult, JoinGroupResultMember, SyncGroupResult } from './group-api';

export type GroupState = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable' | 'Dead';

/** Which states a group may move to each state from (Kafka's validPreviousStates). */
const VALID_PREVIOUS_STATES: Record<GroupState, readonly GroupState[]> = {
  Empty: ['PreparingRebalance'],
  PreparingRebalance: ['Stable', 'CompletingRebalance', 'Empty'],
  CompletingRebalance: ['PreparingRebalance'],
  Stable: ['CompletingRebalance'],
  Dead: ['Stable', 'PreparingRebalance', 'CompletingRebalance', 'Empty', 'Dead'],
};

export interface GroupProtocol {
  name: string;
  metadata: Buffer;
}


export const EMPTY_BYTES: Buffer = Buffer.alloc(0);

export class GroupMember {
  /** The only field that changes identity: a static member gets a new id when it restarts. */
  memberId: string;
  assignment: Buffer = EMPTY_BYTES;
  /** Resolves this member's parked JoinGroup; null when none is parked. */
  awaitingJoin: ((result: JoinGroupResult) => void) | null = null;
  /** Resolves this member's parked SyncGroup; null when none is parked. */
  awaitingSync: ((result: SyncGroupResult) => void) | null = null;
  /** Joined but has not yet received a JoinGroup response: its heartbeat timer is the new-member join timeout. */
  isNew = false;
  /** Cancels this member's session (or new-member join) expiry timer. */
  cancelExpiry: (() => void) | null = null;

  constructor(
    memberId: string,
    readonly groupInstanceId: string | null,
    readonly clientId: string,
    readonly clientHost: string,
    public rebalanceTimeoutMs: number,
    public sessionTimeoutMs: number,
    readonly protocolType: string,
    public protocols: GroupProtocol[],
  ) {
    this.memberId = memberId;
  }

  get isStatic(): boolean {
    return this.groupInstanceId !== null;
  }

  metadataFor(protocolName: string): Buffer {
    const protocol = this.protocols.find((p) => p.name === protocolName);
    if (!protocol) throw new Error(`member ${this.memberId} does not support protocol '${protocolName}'`);
    return protocol.metadata;
  }

  /** Same protocols, in the same order, with byte-identical metadata. */
  matches(protocols: readonly GroupProtocol[]): boolean {
    return (
      protocols.length === this.protocols.length &&
      protocols.every((p, i) => p.name === this.protocols[i].name && p.metadata.equals(this.protocols[i].metadata))
    );
  }

  /** The member's most preferred protocol among those every member supports. */
  vote(candidates: ReadonlySet<string>): string {
    const choice = this.protocols.find((p) => candidates.has(p.name));
    if (!choice) throw new Error(`member ${this.memberId} supports none of the candidate protocols`);
    return choice.name;
  }
}

export class ClassicGroup {
  private stateValue: GroupState = 'Empty';
  stateSinceMs: number;
  protocolType: string | null = null;
  protocolName: string | null = null;
  generationId = 0;
  leaderId: string | null = null;
  /** Insertion-ordered, so leader fallback and member lists are deterministic. */
  readonly members = new Map<string, GroupMember>();
  /** group.instance.id → current member id. */
  readonly staticMembers = new Map<string, string>();
  /** Member ids handed out with MEMBER_ID_REQUIRED that have not joined yet. */
  readonly pendingMembers = new Set<string>();
  /** Members of the current generation that have not sent SyncGroup yet. */
  readonly pendingSyncMembers = new Set<string>();
  /** Protocol name → number of members supporting it. */
  private readonly protocolSupport = new Map<string, number>();
  /** A member joined during the initial rebalance delay, so the delay may be extended. */
  newMemberAdded = false;

  constructor(
    readonly groupId: string,
    nowMs: number,
  ) {
    this.stateSinceMs = nowMs;
  }

  get state(): GroupState {
    return this.stateValue;
  }

  is(state: GroupState): boolean {
    return this.stateValue === state;
  }

  transitionTo(state: GroupState, nowMs: number): void {
    if (!VALID_PREVIOUS_STATES[state].includes(this.stateValue)) {
      throw new Error(`group ${this.groupId} cannot move from ${this.stateValue} to ${state}`);
    }
    this.stateValue = state;
    this.stateSinceMs = nowMs;
  }

  /** PreparingRebalance can be entered from here. */
  get canRebalance(): boolean {
    return VALID_PREVIOUS_STATES.PreparingRebalance.includes(this.stateValue);
  }

  get size(): number {
    return this.members.size;
  }

  has(memberId: string): boolean {
    return this.members.has(memberId);
  }

  get(memberId: string): GroupMember {
    const member = this.members.get(memberId);
    if (!member) throw new Error(`member ${memberId} is not in group ${this.groupId}`);
    return member;
  }

  isLeader(memberId: string): boolean {
    return this.leaderId === memberId;
  }

  get numAwaitingJoin(): number {
    let count = 0;
    for (const member of this.members.values()) if (member.awaitingJoin) count++;
    return count;
  }

  get hasAllMembersJoined(): boolean {
    return this.numAwaitingJoin === this.members.size && this.pendingMembers.size === 0;
  }

  /** The largest rebalance timeout among members: the time a rebalance waits for rejoins. */
  get rebalanceTimeoutMs(): number {
    let max = 0;
    for (const member of this.members.values()) max = Math.max(max, member.rebalanceTimeoutMs);
    return max;
  }

  add(member: GroupMember): void {
    if (member.groupInstanceId !== null) {
      if (this.staticMembers.has(member.groupInstanceId)) {
        throw new Error(`group ${this.groupId} already has a member with instance id ${member.groupInstanceId}`);
      }
      this.staticMembers.set(member.groupInstanceId, member.memberId);
    }
    if (this.members.size === 0) this.protocolType = member.protocolType;
    if (this.protocolType !== member.protocolType) {
      throw new Error(`member protocol type '${member.protocolType}' differs from group's '${this.protocolType}'`);
    }
    if (this.leaderId === null) this.leaderId = member.memberId;
    this.members.set(member.memberId, member);
    this.countProtocols(member.protocols, +1);
    this.pendingMembers.delete(member.memberId);
  }

  /** Removes a member (or a pending member id); returns the removed member, if it was one. */
  remove(memberId: string): GroupMember | undefined {
    const member = this.members.get(memberId);
    if (member) {
      this.members.delete(memberId);
      this.countProtocols(member.protocols, -1);
      if (member.groupInstanceId !== null) this.staticMembers.delete(member.groupInstanceId);
    }
    if (this.isLeader(memberId)) this.leaderId = this.members.keys().next().value ?? null;
    this.pendingMembers.delete(memberId);
    this.pendingSyncMembers.delete(memberId);
    return member;
  }

  updateMember(member: GroupMember, protocols: GroupProtocol[], rebalanceTimeoutMs: number, sessionTimeoutMs: number): void {
    this.countProtocols(member.protocols, -1);
    member.protocols = protocols;
    this.countProtocols(protocols, +1);
    member.rebalanceTimeoutMs = rebalanceTimeoutMs;
    member.sessionTimeoutMs = sessionTimeoutMs;
  }

  /** A restarted static member takes over the old member's place (and leadership) under a new id. */
  replaceStaticMember(groupInstanceId: string, oldMemberId: string, newMemberId: string): GroupMember {
    const member = this.get(oldMemberId);
    this.pendingSyncMembers.delete(oldMemberId);
    member.memberId = newMemberId;
    // Keep the member's place in join order (leader fallback and member lists follow it).
    const entries = [...this.members.entries()].map(([id, m]): [string, GroupMember] => (id === oldMemberId ? [newMemberId, m] : [id, m]));
    this.members.clear();
    for (const [id, m] of entries) this.members.set(id, m);
    if (this.isLeader(oldMemberId)) this.leaderId = newMemberId;
    this.staticMembers.set(groupInstanceId, newMemberId);
    return member;
  }

  /**
   * Keeps the current leader if it rejoined, else promotes any member that did.
   * False when nobody rejoined (or there is no leader), so the generation cannot advance.
   */
  maybeElectNewJoinedLeader(): boolean {
    if (this.leaderId === null) return false;
    if (this.get(this.leaderId).awaitingJoin) return true;
    for (const member of this.members.values()) {
      if (member.awaitingJoin) {
        this.leaderId = member.memberId;
        return true;
      }
    }
    return false;
  }

  /**
   * Whether a joining member's protocols fit: an empty group takes any non-empty set;
   * otherwise the protocol type must match and at least one protocol must be
   * supported by every current member.
   */
  supportsProtocols(protocolType: string, protocolNames: readonly string[]): boolean {
    if (this.is('Empty')) return protocolType.length > 0 && protocolNames.length > 0;
    return this.protocolType === protocolType && protocolNames.some((name) => (this.protocolSupport.get(name) ?? 0) === this.members.size);
  }

  /**
   * Every member votes for its most preferred protocol among those all members
   * support; the most votes wins. Ties go to the protocol that got its first
   * vote earliest (members in join order), so the choice is deterministic.
   */
  selectProtocol(): string {
    if (this.members.size === 0) throw new Error(`cannot select a protocol for empty group ${this.groupId}`);
    const candidates = new Set<string>();
    for (const [name, count] of this.protocolSupport) if (count === this.members.size) candidates.add(name);
    const votes = new Map<string, number>();
    for (const member of this.members.values()) {
      const choice = member.vote(candidates);
      votes.set(choice, (votes.get(choice) ?? 0) + 1);
    }
    let best = '';
    let bestVotes = 0;
    for (const [name, count] of votes) {
      if (count > bestVotes) {
        best = name;
        bestVotes = count;
      }
    }
    return best;
  }

  /** Advances the generation: CompletingRebalance with a chosen protocol, or Empty when nobody is left. */
  initNextGeneration(nowMs: number): void {
    this.generationId += 1;
    if (this.members.size > 0) {
      this.protocolName = this.selectProtocol();
      this.transitionTo('CompletingRebalance', nowMs);
    } else {
      this.protocolName = null;
      this.transitionTo('Empty', nowMs);
    }
    this.pendingSyncMembers.clear();
  }

  /** The member list the leader assigns from. */
  currentMemberMetadata(): JoinGroupResultMember[] {
    if (this.protocolName === null) throw new Error(`group ${this.groupId} has no protocol in state ${this.stateValue}`);
    const protocol = this.protocolName;
    return [...this.members.values()].map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, metadata: m.metadataFor(protocol) }));
  }

  private countProtocols(protocols: readonly GroupProtocol[], delta: 1 | -1): void {
    for (const { name } of protocols) {
      const count = (this.protocolSupport.get(name) ?? 0) + delta;
      if (count === 0) this.protocolSupport.delete(name);
      else this.protocolSupport.set(name, count);
    }
  }
}
