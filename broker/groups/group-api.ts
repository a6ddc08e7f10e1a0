// Requests and results of the classic group protocol as the GroupCoordinator
// sees them: plain objects, one per Kafka API, carrying Kafka error *names*.
// The gateway maps wire versions onto these and names onto codes
// (GROUP_ERRORS below).

import type { GroupState } from './classic-group';

// Kafka's Errors.java: code and whether the Java client treats it as retriable.
export const GROUP_ERRORS = {
  NONE: { code: 0, retriable: false },
  COORDINATOR_NOT_AVAILABLE: { code: 15, retriable: true },
  ILLEGAL_GENERATION: { code: 22, retriable: false },
  INCONSISTENT_GROUP_PROTOCOL: { code: 23, retriable: false },
  INVALID_GROUP_ID: { code: 24, retriable: false },
  UNKNOWN_MEMBER_ID: { code: 25, retriable: false },
  INVALID_SESSION_TIMEOUT: { code: 26, retriable: false },
  REBALANCE_IN_PROGRESS: { code: 27, retriable: false },
  GROUP_AUTHORIZATION_FAILED: { code: 30, retriable: false },
  INVALID_REQUEST: { code: 42, retriable: false },
  NON_EMPTY_GROUP: { code: 68, retriable: false },
  GROUP_ID_NOT_FOUND: { code: 69, retriable: false },
  MEMBER_ID_REQUIRED: { code: 79, retriable: false },
  GROUP_MAX_SIZE_REACHED: { code: 81, retriable: false },
  FENCED_INSTANCE_ID: { code: 82, retriable: false },
} as const;

export type GroupErrorName = keyof typeof GROUP_ERRORS;

export interface GroupProtocolInput {
  name: string;
  metadata: Buffer;
}

export interface JoinGroupRequest {
  groupId: string;
  /** '' for a member joining for the first time. */
  memberId: string;
  /** Static membership (v5+); null or absent for a dynamic member. */
  groupInstanceId?: string | null;
  clientId: string;
  clientHost?: string;
  protocolType: string;
  /** In the member's order of preference. */
  protocols: GroupProtocolInput[];
  sessionTimeoutMs: number;
  /** v1+; absent or negative means "same as the session timeout" (v0). */
  rebalanceTimeoutMs?: number;
  /** v4+: a new dynamic member first gets MEMBER_ID_REQUIRED and a member id to rejoin with. */
  requireKnownMemberId?: boolean;
  /** v9+: a rejoining static leader of a Stable group is told to skip the assignment. */
  supportSkippingAssignment?: boolean;
  reason?: string | null;
}

export interface JoinGroupResultMember {
  memberId: string;
  groupInstanceId: string | null;
  metadata: Buffer;
}

export interface JoinGroupResult {
  error: GroupErrorName;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leaderId: string;
  skipAssignment: boolean;
  memberId: string;
  /** All members with their metadata for the leader; empty for followers. */
  members: JoinGroupResultMember[];
}

export interface SyncGroupRequest {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId?: string | null;
  /** v5+: checked against the group's when present. */
  protocolType?: string | null;
  protocolName?: string | null;
  /** Only the leader's assignments are used; members it leaves out get an empty assignment. */
  assignments: { memberId: string; assignment: Buffer }[];
}

export interface SyncGroupResult {
  error: GroupErrorName;
  protocolType: string | null;
  protocolName: string | null;
  assignment: Buffer;
}

export interface HeartbeatRequest {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId?: string | null;
}

export interface ErrorResult {
  error: GroupErrorName;
}

export interface LeavingMember {
  /** '' with a groupInstanceId: an administrative removal of that static member. */
  memberId: string;
  groupInstanceId?: string | null;
  reason?: string | null;
}

export interface LeaveGroupRequest {
  groupId: string;
  /** v0–2: exactly one member (memberId only); v3+: a batch. */
  members: LeavingMember[];
}

export interface LeaveResult {
  /** Group-level error; when NONE, each member has its own. */
  error: GroupErrorName;
  members: { memberId: string; groupInstanceId: string | null; error: GroupErrorName }[];
}

export interface DescribedMember {
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  /** Only filled while the group is Stable, as in Kafka. */
  metadata: Buffer;
  assignment: Buffer;
}

export interface DescribedGroup {
  groupId: string;
  error: GroupErrorName;
  /** 'Dead' for a group the coordinator does not know, as in Kafka. */
  state: GroupState | '';
  protocolType: string;
  /** The selected protocol name while Stable, '' otherwise. */
  protocolData: string;
  members: DescribedMember[];
}

export interface ListedGroup {
  groupId: string;
  protocolType: string;
  state: GroupState;
}

export interface ListGroupsResult {
  error: GroupErrorName;
  groups: ListedGroup[];
}

export interface DeleteGroupResult {
  groupId: string;
  error: GroupErrorName;
}
