// CreateTopics, DeleteTopics, CreatePartitions: the broker's topic admin.
// Every topic has replication factor 1 as Kafka sees it (one gateway leads
// each partition); rdmq's own durability is the storage node's business.
import { ResponseInput } from '../protocol';
import { findTopic, findTopicById, parseTopicConfigs, effectiveTopicConfig, topicIdFromUuid, topicUuid, validateTopicName, ZERO_UUID, TopicConfig } from '../broker-view';
import { allowedOnCluster, allowedOnTopic, refusal } from '../authorization';
import { GatewayContext, Handler } from '../context';
import { kafkaError, KafkaErrorValue, toKafkaError } from '../errors';
import { describeTopicConfigEntries } from './configs';

type CreatedTopic = NonNullable<ResponseInput<'CreateTopics'>['topics']>[number];
type CreateTopicRequest = Parameters<Handler<'CreateTopics'>>[0]['topics'][number];

export const createTopics: Handler<'CreateTopics'> = async (body, call) => {
  const gw = call.gateway;
  const seen = new Map<string, number>();
  for (const t of body.topics) seen.set(t.name, (seen.get(t.name) ?? 0) + 1);
  const topics = await Promise.all(
    body.topics.map((t) =>
      (seen.get(t.name) ?? 0) > 1
        ? failedTopic(t.name, kafkaError('INVALID_REQUEST', `topic '${t.name}' appears more than once in the request`))
        : // Kafka: CREATE on the cluster, or on the topic.
          !allowedOnCluster(call, 'CREATE') && !allowedOnTopic(call, 'CREATE', t.name)
          ? failedTopic(t.name, refusal(call, 'CREATE', 'TOPIC', t.name)!)
          : createOne(gw, t, body.validateOnly),
    ),
  );
  return { throttleTimeMs: 0, topics };
};

async function createOne(gw: GatewayContext, t: CreateTopicRequest, validateOnly: boolean): Promise<CreatedTopic> {
  const plan = planTopic(gw, t);
  if ('error' in plan) return failedTopic(t.name, plan.error);
  if (validateOnly) {
    if (findTopic(gw.broker, t.name)) return failedTopic(t.name, kafkaError('TOPIC_ALREADY_EXISTS', `topic '${t.name}' already exists`));
    return created(t.name, ZERO_UUID, plan.partitions, effectiveTopicConfig(plan.configs, gw.broker.metadata.topicConfigDefaults), plan.configs);
  }
  try {
    const topic = await gw.broker.createTopic(t.name, plan.partitions, plan.configStrings, t.assignments.length > 0 ? undefined : t.replicationFactor);
    return created(topic.name, topicUuid(topic.topicId), plan.partitions, topic.configs, topic.configOverrides);
  } catch (err) {
    return failedTopic(t.name, toKafkaError(err));
  }
}

function planTopic(
  gw: GatewayContext,
  t: CreateTopicRequest,
): { partitions: number; configs: Partial<TopicConfig>; configStrings: Record<string, string> } | { error: KafkaErrorValue } {
  try {
    validateTopicName(t.name);
  } catch (err) {
    return { error: toKafkaError(err) };
  }
  let partitions = t.numPartitions;
  if (t.assignments.length > 0) {
    if (t.numPartitions !== -1 || t.replicationFactor !== -1) {
      return { error: kafkaError('INVALID_REQUEST', 'give either an assignment or a partition count and replication factor, not both') };
    }
    const bad = t.assignments.find((a, i) => a.partitionIndex !== i || a.brokerIds.length !== 1 || !gw.leadership.nodes().some((n) => n.nodeId === a.brokerIds[0]));
    if (bad) return { error: kafkaError('INVALID_REPLICA_ASSIGNMENT', 'each partition, numbered from 0, must have exactly one replica on a known gateway node') };
    partitions = t.assignments.length;
  }
  if (partitions === -1) partitions = gw.limits.defaultPartitions;
  const max = gw.limits.maxPartitionsPerTopic;
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > max) {
    return { error: kafkaError('INVALID_PARTITIONS', `partition count must be 1..${max}, got ${partitions}`) };
  }
  // The replication factor counts copies on storage nodes (the broker checks it against them); -1: the broker's default.
  if (t.replicationFactor !== -1 && (!Number.isInteger(t.replicationFactor) || t.replicationFactor < 1)) {
    return { error: kafkaError('INVALID_REPLICATION_FACTOR', `replication factor must be -1 (the default) or at least 1, got ${t.replicationFactor}`) };
  }
  const configStrings: Record<string, string> = {};
  for (const c of t.configs) {
    if (c.value !== null) configStrings[c.name] = c.value;
  }
  try {
    const configs = parseTopicConfigs(configStrings);
    const effective = effectiveTopicConfig(configs, gw.broker.metadata.topicConfigDefaults);
    if (effective['max.message.bytes'] > effective['segment.bytes']) {
      return { error: kafkaError('INVALID_CONFIG', `max.message.bytes ${effective['max.message.bytes']} exceeds segment.bytes ${effective['segment.bytes']}: a batch must fit in one segment`) };
    }
    return { partitions, configs, configStrings };
  } catch (err) {
    return { error: toKafkaError(err) };
  }
}

function created(name: string, topicId: Buffer, partitions: number, config: TopicConfig, overrides: Partial<TopicConfig>): CreatedTopic {
  return {
    name,
    topicId,
    errorCode: 0,
    errorMessage: null,
    numPartitions: partitions,
    replicationFactor: 1,
    configs: describeTopicConfigEntries(config, overrides, null).map((c) => ({
      name: c.name,
      value: c.value,
      readOnly: c.readOnly,
      configSource: c.configSource,
      isSensitive: false,
    })),
  };
}

function failedTopic(name: string, error: KafkaErrorValue): CreatedTopic {
  return { name, topicId: ZERO_UUID, errorCode: error.code, errorMessage: error.message, numPartitions: -1, replicationFactor: -1, configs: null };
}

export const deleteTopics: Handler<'DeleteTopics'> = async (body, call) => {
  const gw = call.gateway;
  const wanted: { name: string | null; topicId: Buffer }[] =
    call.apiVersion >= 6 ? body.topics.map((t) => ({ name: t.name, topicId: t.topicId })) : body.topicNames.map((name) => ({ name, topicId: ZERO_UUID }));
  const responses = await Promise.all(
    wanted.map(async (w) => {
      // Refused before looked up, so a principal that may not delete a name does not learn whether it exists.
      const deniedByName = w.name !== null ? refusal(call, 'DELETE', 'TOPIC', w.name) : null;
      if (deniedByName) return { name: w.name, topicId: w.topicId, errorCode: deniedByName.code, errorMessage: deniedByName.message };
      const topic = w.name !== null ? findTopic(gw.broker, w.name) : lookupById(gw, w.topicId);
      if (!topic) {
        const error = w.name !== null ? kafkaError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${w.name}' does not exist`) : kafkaError('UNKNOWN_TOPIC_ID');
        return { name: w.name, topicId: w.topicId, errorCode: error.code, errorMessage: error.message };
      }
      const denied = refusal(call, 'DELETE', 'TOPIC', topic.name);
      if (denied) return { name: w.name, topicId: w.topicId, errorCode: denied.code, errorMessage: denied.message };
      try {
        await gw.broker.deleteTopic(topic.name);
        gw.fetchers.drop(topic.topicId);
        return { name: topic.name, topicId: topicUuid(topic.topicId), errorCode: 0, errorMessage: null };
      } catch (err) {
        const error = toKafkaError(err);
        return { name: topic.name, topicId: topicUuid(topic.topicId), errorCode: error.code, errorMessage: error.message };
      }
    }),
  );
  return { throttleTimeMs: 0, responses };
};

function lookupById(gw: GatewayContext, uuid: Buffer) {
  const id = topicIdFromUuid(uuid);
  return id === undefined ? undefined : findTopicById(gw.broker, id);
}

export const createPartitions: Handler<'CreatePartitions'> = async (body, call) => {
  const gw = call.gateway;
  const results = await Promise.all(
    body.topics.map(async (t) => {
      const fail = (error: KafkaErrorValue) => ({ name: t.name, errorCode: error.code, errorMessage: error.message });
      const denied = refusal(call, 'ALTER', 'TOPIC', t.name);
      if (denied) return fail(denied);
      const topic = findTopic(gw.broker, t.name);
      if (!topic) return fail(kafkaError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${t.name}' does not exist`));
      const max = gw.limits.maxPartitionsPerTopic;
      if (!Number.isInteger(t.count) || t.count <= topic.partitionCount || t.count > max) {
        return fail(kafkaError('INVALID_PARTITIONS', `topic '${t.name}' has ${topic.partitionCount} partitions; the new count must be more than that and at most ${max}, got ${t.count}`));
      }
      if (t.assignments !== null && t.assignments.some((a) => a.brokerIds.length !== 1 || !gw.leadership.nodes().some((n) => n.nodeId === a.brokerIds[0]))) {
        return fail(kafkaError('INVALID_REPLICA_ASSIGNMENT', 'each new partition must have exactly one replica on a known gateway node'));
      }
      if (body.validateOnly) return { name: t.name, errorCode: 0, errorMessage: null };
      try {
        await gw.broker.addPartitions(t.name, t.count);
        return { name: t.name, errorCode: 0, errorMessage: null };
      } catch (err) {
        return fail(toKafkaError(err));
      }
    }),
  );
  return { throttleTimeMs: 0, results };
};
