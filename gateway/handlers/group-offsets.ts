// OffsetCommit, OffsetFetch, OffsetDelete: committed consumer offsets. The
// coordinator decides whether a member may commit; the metadata store keeps
// the offsets durably.
import { errorCode } from '../protocol';
import { findPartition, findTopic, GROUP_ERRORS } from '../broker-view';
import { allowedOnTopic, refusal } from '../authorization';
import { GatewayContext, Handler, RequestContext } from '../context';
import { kafkaError, toKafkaError } from '../errors';

export const offsetCommit: Handler<'OffsetCommit'> = async (body, call) => {
  const gw = call.gateway;
  const memberId = call.apiVersion >= 1 ? body.memberId : '';
  const generationId = call.apiVersion >= 1 ? body.generationIdOrMemberEpoch : -1;
  const denied = gw.groups.validateCommit(body.groupId, memberId, generationId, body.groupInstanceId);
  const everyPartition = (code: number) =>
    body.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: code })) }));
  if (denied) return { throttleTimeMs: 0, topics: everyPartition(GROUP_ERRORS[denied].code) };
  const groupDenied = refusal(call, 'READ', 'GROUP', body.groupId);
  if (groupDenied) return { throttleTimeMs: 0, topics: everyPartition(groupDenied.code) };
  // Partitions of topics the principal may not READ are answered TOPIC_AUTHORIZATION_FAILED; the rest are committed.
  const topicDenied = new Map(body.topics.flatMap((t) => {
    const refused = refusal(call, 'READ', 'TOPIC', t.name);
    return refused ? [[t.name, refused.code] as const] : [];
  }));
  const entries = body.topics.filter((t) => !topicDenied.has(t.name)).flatMap((t) =>
    t.partitions.map((p) => ({
      topic: t.name,
      partition: p.partitionIndex,
      offset: resolveSpecialOffset(gw, t.name, p.partitionIndex, p.committedOffset),
      metadata: p.committedMetadata,
      leaderEpoch: p.committedLeaderEpoch,
    })),
  );
  try {
    const protocolType = memberId ? gw.groups.describeGroups([body.groupId])[0]?.protocolType || null : null;
    const results = await gw.broker.metadata.commitOffsets(body.groupId, entries, Date.now(), protocolType);
    const codes = new Map(results.map((r) => [`${r.topic}\u0000${r.partition}`, r.error ? r.error.kafkaErrorCode : 0]));
    return {
      throttleTimeMs: 0,
      topics: body.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: topicDenied.get(t.name) ?? codes.get(`${t.name}\u0000${p.partitionIndex}`) ?? 0 })),
      })),
    };
  } catch (err) {
    return { throttleTimeMs: 0, topics: everyPartition(toKafkaError(err).code) };
  }
};

/**
 * Kafka stores whatever offset is committed, and admin tools commit -1
 * (latest) and -2 (earliest) to reset a group (kafkajs resetOffsets). The
 * metadata store keeps only real offsets, so they are resolved here, at
 * commit time rather than at the group's next fetch.
 */
function resolveSpecialOffset(gw: GatewayContext, topicName: string, partition: number, offset: bigint): bigint {
  if (offset !== -1n && offset !== -2n) return offset;
  const topic = findTopic(gw.broker, topicName);
  const runtime = topic && findPartition(gw.broker, topic, partition);
  if (!runtime) return offset;
  return offset === -1n ? runtime.state.highWatermark() : runtime.state.logStartOffset();
}

interface FetchedTopic {
  name: string;
  partitions: { partitionIndex: number; committedOffset: bigint; committedLeaderEpoch: number; metadata: string | null; errorCode: number }[];
}

/** A group's offsets on the topics the principal may DESCRIBE (Kafka's rule); a named topic it may not is answered TOPIC_AUTHORIZATION_FAILED. */
function fetchGroupOffsets(call: RequestContext, groupId: string, topics: { name: string; partitionIndexes: number[] }[] | null): FetchedTopic[] {
  const gw = call.gateway;
  const refusedTopics = (topics ?? []).filter((t) => !allowedOnTopic(call, 'DESCRIBE', t.name));
  const permitted = topics?.filter((t) => !refusedTopics.includes(t));
  const fetched = gw.broker.metadata
    .fetchOffsets(groupId, permitted?.map((t) => ({ topic: t.name, partitions: t.partitionIndexes })))
    .filter((f) => topics !== null || allowedOnTopic(call, 'DESCRIBE', f.topic));
  const byTopic = new Map<string, FetchedTopic>();
  // Requested topics keep their order, and appear even when nothing was committed.
  for (const t of topics ?? []) byTopic.set(t.name, { name: t.name, partitions: [] });
  for (const f of fetched) {
    let topic = byTopic.get(f.topic);
    if (!topic) byTopic.set(f.topic, (topic = { name: f.topic, partitions: [] }));
    topic.partitions.push({
      partitionIndex: f.partition,
      committedOffset: f.offset,
      committedLeaderEpoch: f.leaderEpoch,
      metadata: f.metadata ?? '',
      errorCode: 0,
    });
  }
  for (const t of refusedTopics) {
    const refused = refusal(call, 'DESCRIBE', 'TOPIC', t.name)!;
    byTopic.set(t.name, {
      name: t.name,
      partitions: t.partitionIndexes.map((partitionIndex) => ({ partitionIndex, committedOffset: -1n, committedLeaderEpoch: -1, metadata: '', errorCode: refused.code })),
    });
  }
  return [...byTopic.values()];
}

export const offsetFetch: Handler<'OffsetFetch'> = (body, call) => {
  if (call.apiVersion >= 8) {
    return {
      throttleTimeMs: 0,
      groups: body.groups.map((g) => {
        const denied = refusal(call, 'DESCRIBE', 'GROUP', g.groupId);
        return denied ? { groupId: g.groupId, topics: [], errorCode: denied.code } : { groupId: g.groupId, topics: fetchGroupOffsets(call, g.groupId, g.topics), errorCode: 0 };
      }),
    };
  }
  const denied = refusal(call, 'DESCRIBE', 'GROUP', body.groupId);
  if (denied) return { throttleTimeMs: 0, topics: [], errorCode: denied.code };
  return { throttleTimeMs: 0, topics: fetchGroupOffsets(call, body.groupId, body.topics), errorCode: 0 };
};

/**
 * OffsetDelete. The metadata store can delete a group's offsets only all at
 * once, so the offsets that stay are committed again right after: not atomic
 * (a crash in between loses them). A group with members keeps its offsets.
 */
export const offsetDelete: Handler<'OffsetDelete'> = async (body, call) => {
  const gw = call.gateway;
  const groupDenied = refusal(call, 'DELETE', 'GROUP', body.groupId);
  if (groupDenied) return { errorCode: groupDenied.code, throttleTimeMs: 0, topics: [] };
  const readDenied = body.topics.find((t) => !allowedOnTopic(call, 'READ', t.name));
  if (readDenied) return { errorCode: refusal(call, 'READ', 'TOPIC', readDenied.name)!.code, throttleTimeMs: 0, topics: [] };
  const state = gw.groups.describeGroups([body.groupId])[0];
  const committed = gw.broker.metadata.fetchOffsets(body.groupId);
  const perPartition = (code: number) =>
    body.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: code })) }));
  if (state.error !== 'NONE') return { errorCode: GROUP_ERRORS[state.error].code, throttleTimeMs: 0, topics: [] };
  if (committed.length === 0 && (state.state === 'Dead' || state.state === '')) {
    return { errorCode: errorCode('GROUP_ID_NOT_FOUND'), throttleTimeMs: 0, topics: [] };
  }
  if (state.state !== 'Dead' && state.state !== 'Empty') {
    return { errorCode: 0, throttleTimeMs: 0, topics: perPartition(kafkaError('GROUP_SUBSCRIBED_TO_TOPIC').code) };
  }
  const doomed = new Set(body.topics.flatMap((t) => t.partitions.map((p) => `${t.name}\u0000${p.partitionIndex}`)));
  const kept = committed.filter((c) => !doomed.has(`${c.topic}\u0000${c.partition}`));
  try {
    if (kept.length < committed.length) {
      await gw.broker.metadata.deleteGroup(body.groupId);
      if (kept.length > 0) {
        await gw.broker.metadata.commitOffsets(
          body.groupId,
          kept.map((c) => ({ topic: c.topic, partition: c.partition, offset: c.offset, metadata: c.metadata, leaderEpoch: c.leaderEpoch })),
        );
      }
    }
    return { errorCode: 0, throttleTimeMs: 0, topics: perPartition(0) };
  } catch (err) {
    return { errorCode: toKafkaError(err).code, throttleTimeMs: 0, topics: [] };
  }
};
