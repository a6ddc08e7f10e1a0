// Consumer group membership: FindCoordinator, JoinGroup, SyncGroup,
// Heartbeat, LeaveGroup, DescribeGroups, ListGroups, DeleteGroups. The state
// machine is the broker's GroupCoordinator; this file maps wire versions onto
// it and error names onto codes.
import { errorCode } from '../protocol';
import { GROUP_ERRORS, GroupErrorName } from '../broker-view';
import { allowedOnCluster, allowedOnGroup, refusal } from '../authorization';
import { Handler } from '../context';
import { kafkaError } from '../errors';
import { addressOf } from '../leadership';

const KEY_TYPE_GROUP = 0;

function code(name: GroupErrorName): number {
  return GROUP_ERRORS[name].code;
}

export const findCoordinator: Handler<'FindCoordinator'> = (body, call) => {
  const gw = call.gateway;
  const answer = (key: string) => {
    if (body.keyType !== KEY_TYPE_GROUP) {
      const e = kafkaError('INVALID_REQUEST', `coordinator key type ${body.keyType} is not supported: this gateway has no transaction coordinator`);
      return { key, nodeId: -1, host: '', port: -1, errorCode: e.code, errorMessage: e.message };
    }
    const denied = refusal(call, 'DESCRIBE', 'GROUP', key);
    if (denied) return { key, nodeId: -1, host: '', port: -1, errorCode: denied.code, errorMessage: denied.message };
    const node = gw.leadership.groupCoordinator(key);
    return { key, nodeId: node.nodeId, ...addressOf(node, call.session.listenerName), errorCode: 0, errorMessage: null };
  };
  if (call.apiVersion >= 4) return { throttleTimeMs: 0, coordinators: body.coordinatorKeys.map(answer) };
  const one = answer(body.key);
  return { throttleTimeMs: 0, errorCode: one.errorCode, errorMessage: one.errorMessage, nodeId: one.nodeId, host: one.host, port: one.port };
};

export const joinGroup: Handler<'JoinGroup'> = async (body, call) => {
  const denied = refusal(call, 'READ', 'GROUP', body.groupId);
  if (denied) {
    const protocolName = call.apiVersion >= 7 ? null : '';
    return { throttleTimeMs: 0, errorCode: denied.code, generationId: -1, protocolType: null, protocolName, leader: '', skipAssignment: false, memberId: body.memberId, members: [] };
  }
  const result = await call.gateway.groups.joinGroup({
    groupId: body.groupId,
    memberId: body.memberId,
    groupInstanceId: body.groupInstanceId,
    clientId: call.header.clientId ?? '',
    clientHost: call.clientHost,
    protocolType: body.protocolType,
    protocols: body.protocols.map((p) => ({ name: p.name, metadata: Buffer.from(p.metadata) })),
    sessionTimeoutMs: body.sessionTimeoutMs,
    rebalanceTimeoutMs: call.apiVersion >= 1 ? body.rebalanceTimeoutMs : undefined,
    requireKnownMemberId: call.apiVersion >= 4,
    supportSkippingAssignment: call.apiVersion >= 9,
    reason: body.reason,
  });
  return {
    throttleTimeMs: 0,
    errorCode: code(result.error),
    generationId: result.generationId,
    protocolType: result.protocolType,
    // Before v7 the protocol name is not nullable.
    protocolName: result.protocolName ?? (call.apiVersion >= 7 ? null : ''),
    leader: result.leaderId,
    skipAssignment: result.skipAssignment,
    memberId: result.memberId,
    members: result.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, metadata: m.metadata })),
  };
};

export const syncGroup: Handler<'SyncGroup'> = async (body, call) => {
  const denied = refusal(call, 'READ', 'GROUP', body.groupId);
  if (denied) return { throttleTimeMs: 0, errorCode: denied.code, protocolType: null, protocolName: null, assignment: Buffer.alloc(0) };
  const result = await call.gateway.groups.syncGroup({
    groupId: body.groupId,
    generationId: body.generationId,
    memberId: body.memberId,
    groupInstanceId: body.groupInstanceId,
    protocolType: body.protocolType,
    protocolName: body.protocolName,
    // The frame is released after the response; the coordinator keeps assignments longer.
    assignments: body.assignments.map((a) => ({ memberId: a.memberId, assignment: Buffer.from(a.assignment) })),
  });
  return {
    throttleTimeMs: 0,
    errorCode: code(result.error),
    protocolType: result.protocolType,
    protocolName: result.protocolName,
    assignment: result.assignment,
  };
};

export const heartbeat: Handler<'Heartbeat'> = (body, call) => {
  const denied = refusal(call, 'READ', 'GROUP', body.groupId);
  if (denied) return { throttleTimeMs: 0, errorCode: denied.code };
  const result = call.gateway.groups.heartbeat({
    groupId: body.groupId,
    generationId: body.generationId,
    memberId: body.memberId,
    groupInstanceId: body.groupInstanceId,
  });
  return { throttleTimeMs: 0, errorCode: code(result.error) };
};

export const leaveGroup: Handler<'LeaveGroup'> = (body, call) => {
  const denied = refusal(call, 'READ', 'GROUP', body.groupId);
  if (denied) return { throttleTimeMs: 0, errorCode: denied.code, members: [] };
  const members =
    call.apiVersion >= 3
      ? body.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, reason: m.reason }))
      : [{ memberId: body.memberId, groupInstanceId: null }];
  const result = call.gateway.groups.leaveGroup({ groupId: body.groupId, members });
  if (call.apiVersion < 3) {
    // One member and no per-member list: its error is the answer.
    const only = result.members[0];
    return { throttleTimeMs: 0, errorCode: code(result.error !== 'NONE' ? result.error : (only?.error ?? 'NONE')) };
  }
  return {
    throttleTimeMs: 0,
    errorCode: code(result.error),
    members: result.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, errorCode: code(m.error) })),
  };
};

export const describeGroups: Handler<'DescribeGroups'> = (body, call) => {
  const gw = call.gateway;
  const withOffsets = new Set(gw.broker.metadata.listGroups());
  return {
    throttleTimeMs: 0,
    groups: gw.groups.describeGroups(body.groups).map((g) => {
      const denied = refusal(call, 'DESCRIBE', 'GROUP', g.groupId);
      if (denied) return { errorCode: denied.code, groupId: g.groupId, groupState: '', protocolType: '', protocolData: '', members: [] };
      return {
      errorCode: code(g.error),
      groupId: g.groupId,
      // A group known only by its committed offsets is Empty, as in Kafka.
      groupState: g.state === 'Dead' && withOffsets.has(g.groupId) ? 'Empty' : g.state,
      protocolType: g.state === 'Dead' && withOffsets.has(g.groupId) ? gw.broker.metadata.groupProtocolType(g.groupId) : g.protocolType,
      protocolData: g.protocolData,
      members: g.members.map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        memberMetadata: m.metadata,
        memberAssignment: m.assignment,
      })),
      };
    }),
  };
};

export const listGroups: Handler<'ListGroups'> = (body, call) => {
  const gw = call.gateway;
  const result = gw.groups.listGroups(body.statesFilter);
  if (result.error !== 'NONE') return { throttleTimeMs: 0, errorCode: code(result.error), groups: [] };
  const listed = result.groups.map((g) => ({ groupId: g.groupId, protocolType: g.protocolType, groupState: g.state as string }));
  const known = new Set(listed.map((g) => g.groupId));
  const wantEmpty = body.statesFilter.length === 0 || body.statesFilter.some((s) => s.toLowerCase() === 'empty');
  if (wantEmpty) {
    for (const groupId of gw.broker.metadata.listGroups()) {
      if (!known.has(groupId)) listed.push({ groupId, protocolType: gw.broker.metadata.groupProtocolType(groupId), groupState: 'Empty' });
    }
  }
  // Kafka lists every group to DESCRIBE on the cluster, else the groups the principal may DESCRIBE.
  const visible = allowedOnCluster(call, 'DESCRIBE') ? listed : listed.filter((g) => allowedOnGroup(call, 'DESCRIBE', g.groupId));
  return { throttleTimeMs: 0, errorCode: 0, groups: visible };
};

export const deleteGroups: Handler<'DeleteGroups'> = async (body, call) => {
  const gw = call.gateway;
  const refused = body.groupsNames.flatMap((groupId) => {
    const denied = refusal(call, 'DELETE', 'GROUP', groupId);
    return denied ? [{ groupId, errorCode: denied.code }] : [];
  });
  const permitted = body.groupsNames.filter((groupId) => !refused.some((r) => r.groupId === groupId));
  const results = await Promise.all(
    gw.groups.deleteGroups(permitted).map(async (r) => {
      if (r.error !== 'NONE' && r.error !== 'GROUP_ID_NOT_FOUND') return { groupId: r.groupId, errorCode: code(r.error) };
      // Committed offsets may exist for a group the coordinator never saw (simple commits).
      const hasOffsets = gw.broker.metadata.listGroups().includes(r.groupId);
      if (!hasOffsets) return { groupId: r.groupId, errorCode: code(r.error) };
      try {
        await gw.broker.metadata.deleteGroup(r.groupId);
        return { groupId: r.groupId, errorCode: 0 };
      } catch (err) {
        return { groupId: r.groupId, errorCode: (err as { kafkaErrorCode?: number }).kafkaErrorCode ?? errorCode('UNKNOWN_SERVER_ERROR') };
      }
    }),
  );
  return { throttleTimeMs: 0, results: [...refused, ...results] };
};
