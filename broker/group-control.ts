// The consumer-group calls of the control plane (broker.proto JoinGroup ...
// FetchOffsets) for fast-path consumers. They reach the same GroupCoordinator
// and the same committed offsets as the Kafka gateway, so an SDK member and a
// Kafka member of one group are members of one group. The coordinator answers
// with Kafka error names; they travel as they are, as values, not gRPC errors.
import type * as grpc from '@grpc/grpc-js';
import { Broker } from './broker';
import { GroupCoordinator, GroupErrorName } from './group-coordinator';
import { BrokerError } from './topics';
import { aclHost, AclOperation } from './security/acls';
import { callerOf } from './security/acl-control';

type Handler = (call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>) => Promise<unknown> | unknown;

interface PartitionOffsetMessage {
  topic: string;
  partition: number;
  offset: string;
  metadata: string;
}

/** Largest offset commit in one call; the metadata store bounds it too. */
const OFFSETS_PER_CALL_MAX = 10_000;

function clientHost(call: grpc.ServerUnaryCall<unknown, unknown>): string {
  const peer = call.getPeer();
  return peer.slice(0, Math.max(peer.lastIndexOf(':'), 0)).replace(/^\[|\]$/g, '');
}

/** The handlers, by gRPC method name; `groups` is undefined while the coordinator is not running. */
export function groupControlHandlers(broker: Broker, groups: () => GroupCoordinator | undefined): Record<string, Handler> {
  const coordinator = (): GroupCoordinator | { error: GroupErrorName } => groups() ?? { error: 'COORDINATOR_NOT_AVAILABLE' };
  /** Whether the caller may do `operation` on the group or topic (Kafka's rules for the same calls at the Kafka door). */
  const allowed = (call: grpc.ServerUnaryCall<unknown, unknown>, operation: AclOperation, resourceType: 'GROUP' | 'TOPIC', resourceName: string): boolean => {
    const caller = callerOf(call);
    return caller.clusterMember || broker.authorizer.authorize({ principal: caller.principal, host: aclHost(clientHost(call)), operation, resourceType, resourceName });
  };
  const REFUSED = 'GROUP_AUTHORIZATION_FAILED' as const;
  return {
    joinGroup: async (call) => {
      const req = call.request as {
        groupId: string;
        memberId: string;
        clientId: string;
        protocolType: string;
        protocols: { name: string; metadata: Buffer }[];
        sessionTimeoutMs: number;
        rebalanceTimeoutMs: number;
      };
      const c = allowed(call, 'READ', 'GROUP', req.groupId) ? coordinator() : { error: REFUSED };
      if (!(c instanceof GroupCoordinator)) return { ...c, generationId: -1, protocolName: '', leaderId: '', memberId: req.memberId, members: [] };
      const result = await c.joinGroup({
        groupId: req.groupId,
        memberId: req.memberId,
        clientId: req.clientId,
        clientHost: clientHost(call),
        protocolType: req.protocolType,
        protocols: req.protocols.map((p) => ({ name: p.name, metadata: Buffer.from(p.metadata) })),
        sessionTimeoutMs: req.sessionTimeoutMs,
        rebalanceTimeoutMs: req.rebalanceTimeoutMs,
      });
      return {
        error: result.error,
        generationId: result.generationId,
        protocolName: result.protocolName ?? '',
        leaderId: result.leaderId,
        memberId: result.memberId,
        members: result.members.map((m) => ({ memberId: m.memberId, metadata: m.metadata })),
      };
    },
    syncGroup: async (call) => {
      const req = call.request as { groupId: string; generationId: number; memberId: string; assignments: { memberId: string; assignment: Buffer }[] };
      const c = allowed(call, 'READ', 'GROUP', req.groupId) ? coordinator() : { error: REFUSED };
      if (!(c instanceof GroupCoordinator)) return { ...c, assignment: Buffer.alloc(0) };
      const result = await c.syncGroup({
        groupId: req.groupId,
        generationId: req.generationId,
        memberId: req.memberId,
        assignments: req.assignments.map((a) => ({ memberId: a.memberId, assignment: Buffer.from(a.assignment) })),
      });
      return { error: result.error, assignment: result.assignment };
    },
    heartbeat: (call) => {
      const req = call.request as { groupId: string; generationId: number; memberId: string };
      const c = allowed(call, 'READ', 'GROUP', req.groupId) ? coordinator() : { error: REFUSED };
      return c instanceof GroupCoordinator ? { error: c.heartbeat(req).error } : c;
    },
    leaveGroup: (call) => {
      const req = call.request as { groupId: string; memberId: string };
      const c = allowed(call, 'READ', 'GROUP', req.groupId) ? coordinator() : { error: REFUSED };
      if (!(c instanceof GroupCoordinator)) return c;
      const result = c.leaveGroup({ groupId: req.groupId, members: [{ memberId: req.memberId }] });
      return { error: result.error !== 'NONE' ? result.error : (result.members[0]?.error ?? 'NONE') };
    },
    commitOffsets: async (call) => {
      const req = call.request as { groupId: string; generationId: number; memberId: string; offsets: PartitionOffsetMessage[] };
      if (req.offsets.length > OFFSETS_PER_CALL_MAX) throw new BrokerError('INVALID_REQUEST', `an offset commit may name at most ${OFFSETS_PER_CALL_MAX} partitions, got ${req.offsets.length}`);
      const c = allowed(call, 'READ', 'GROUP', req.groupId) ? coordinator() : { error: REFUSED };
      if (!(c instanceof GroupCoordinator)) return { ...c, offsets: [] };
      // Kafka's rule: each topic needs READ; a commit naming one the caller may not read is refused, naming those partitions.
      const unreadable = req.offsets.filter((o) => !allowed(call, 'READ', 'TOPIC', o.topic));
      if (unreadable.length > 0) {
        return { error: 'NONE', offsets: unreadable.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset, metadata: '', error: 'TOPIC_AUTHORIZATION_FAILED' })) };
      }
      const denied = c.validateCommit(req.groupId, req.memberId, req.generationId);
      if (denied) return { error: denied, offsets: [] };
      const entries = req.offsets.map((o) => {
        if (!/^\d+$/.test(o.offset)) throw new BrokerError('INVALID_REQUEST', `offset "${o.offset}" for ${o.topic}-${o.partition} must be a non-negative integer`);
        return { topic: o.topic, partition: o.partition, offset: BigInt(o.offset), metadata: o.metadata || null };
      });
      const results = await broker.metadata.commitOffsets(req.groupId, entries);
      return {
        error: 'NONE',
        offsets: results.map((r, i) => ({ topic: r.topic, partition: r.partition, offset: req.offsets[i].offset, metadata: '', error: r.error ? r.error.code : 'NONE' })),
      };
    },
    fetchOffsets: (call) => {
      const req = call.request as { groupId: string; topics: { topic: string; partitions: number[] }[] };
      // The response has no error field: a group the caller may not describe has no offsets for it (it cannot join the group either).
      if (!allowed(call, 'DESCRIBE', 'GROUP', req.groupId)) return { offsets: [] };
      const fetched = broker.metadata.fetchOffsets(req.groupId, req.topics.map((t) => ({ topic: t.topic, partitions: t.partitions.length > 0 ? t.partitions : undefined })));
      return { offsets: fetched.map((f) => ({ topic: f.topic, partition: f.partition, offset: f.offset.toString(), metadata: f.metadata ?? '', error: 'NONE' })) };
    },
  };
}
