// Metadata and DescribeCluster: the gateways as Kafka brokers, topics with
// their partitions. Every partition has one replica, its leader gateway; rdmq
// keeps its own copies on storage nodes, which Kafka clients need not see.
// Unknown topics are created when the gateway allows it and the client asks.
import { Broker, BrokerError } from '../../broker';
import { errorCode, ResponseInput } from '../protocol';
import { findTopic, findTopicById, TopicRef, topicIdFromUuid, topicUuid, validateTopicName, ZERO_UUID } from '../broker-view';
import { allowedOnCluster, allowedOnTopic, refusal } from '../authorization';
import { GatewayContext, Handler, RequestContext } from '../context';
import { toKafkaError } from '../errors';
import { addressOf } from '../leadership';

/** Leader epoch of every partition: there is no leader election, so it never changes. */
export const LEADER_EPOCH = 0;

type MetadataTopic = NonNullable<ResponseInput<'Metadata'>['topics']>[number];

export const metadata: Handler<'Metadata'> = async (body, call) => {
  const gw = call.gateway;
  const everything = body.topics === null || (call.apiVersion === 0 && body.topics.length === 0);
  let topics: MetadataTopic[];
  if (everything) {
    // Only the topics the principal may DESCRIBE are listed (Kafka's rule).
    topics = gw.broker.metadata.listTopics().flatMap((t) => {
      const ref = allowedOnTopic(call, 'DESCRIBE', t.name) ? findTopic(gw.broker, t.name) : undefined;
      return ref ? [describeTopic(gw, ref)] : [];
    });
  } else {
    const allowCreate = gw.autoCreateTopics && body.allowAutoTopicCreation;
    // Before v12 a topic's name in the response is not nullable.
    const unnamed = call.apiVersion >= 12 ? null : '';
    topics = await Promise.all(body.topics!.map((t) => lookup(call, t.name, t.topicId, allowCreate, unnamed)));
  }
  const nodes = gw.leadership.nodes();
  return {
    throttleTimeMs: 0,
    brokers: nodes.map((n) => ({ nodeId: n.nodeId, ...addressOf(n, call.session.listenerName), rack: n.rack })),
    clusterId: gw.clusterId,
    controllerId: gw.leadership.controller().nodeId,
    topics,
  };
};

async function lookup(call: RequestContext, name: string | null, topicId: Buffer, allowCreate: boolean, unnamed: string | null): Promise<MetadataTopic> {
  const gw = call.gateway;
  if (name === null) {
    const ref = findTopicByUuid(gw.broker, topicId);
    if (ref && !allowedOnTopic(call, 'DESCRIBE', ref.name)) return { errorCode: errorCode('TOPIC_AUTHORIZATION_FAILED'), name: unnamed, topicId, partitions: [] };
    return ref ? describeTopic(gw, ref) : { errorCode: errorCode('UNKNOWN_TOPIC_ID'), name: unnamed, topicId, partitions: [] };
  }
  // A topic the principal may not DESCRIBE is refused whether it exists or not, so its existence is not revealed.
  const denied = refusal(call, 'DESCRIBE', 'TOPIC', name);
  if (denied) return { errorCode: denied.code, name, topicId: ZERO_UUID, partitions: [] };
  const found = findTopic(gw.broker, name);
  if (found) return describeTopic(gw, found);
  try {
    validateTopicName(name);
  } catch {
    return { errorCode: errorCode('INVALID_TOPIC_EXCEPTION'), name, topicId: ZERO_UUID, partitions: [] };
  }
  if (!allowCreate) return { errorCode: errorCode('UNKNOWN_TOPIC_OR_PARTITION'), name, topicId: ZERO_UUID, partitions: [] };
  if (!allowedOnCluster(call, 'CREATE') && !allowedOnTopic(call, 'CREATE', name)) {
    return { errorCode: errorCode('TOPIC_AUTHORIZATION_FAILED'), name, topicId: ZERO_UUID, partitions: [] };
  }
  try {
    await gw.broker.createTopic(name, gw.limits.defaultPartitions);
    gw.log(`auto-created topic '${name}' with ${gw.limits.defaultPartitions} partition(s)`);
  } catch (err) {
    // Another request may have created it meanwhile: that is success too.
    if (!(err instanceof BrokerError && err.code === 'TOPIC_ALREADY_EXISTS')) {
      return { errorCode: toKafkaError(err).code, name, topicId: ZERO_UUID, partitions: [] };
    }
  }
  const created = findTopic(gw.broker, name);
  return created ? describeTopic(gw, created) : { errorCode: errorCode('LEADER_NOT_AVAILABLE'), name, topicId: ZERO_UUID, partitions: [] };
}

function findTopicByUuid(broker: Broker, uuid: Buffer): TopicRef | undefined {
  const id = topicIdFromUuid(uuid);
  return id === undefined ? undefined : findTopicById(broker, id);
}

function describeTopic(gw: GatewayContext, topic: TopicRef): MetadataTopic {
  return {
    errorCode: 0,
    name: topic.name,
    topicId: topicUuid(topic.topicId),
    isInternal: false,
    partitions: Array.from({ length: topic.partitionCount }, (_, partition) => {
      const leader = gw.leadership.partitionLeader(topic.topicId, partition).nodeId;
      return {
        errorCode: 0,
        partitionIndex: partition,
        leaderId: leader,
        leaderEpoch: LEADER_EPOCH,
        replicaNodes: [leader],
        isrNodes: [leader],
        offlineReplicas: [],
      };
    }),
  };
}

export const describeCluster: Handler<'DescribeCluster'> = (body, call) => {
  const gw = call.gateway;
  const denied = refusal(call, 'DESCRIBE', 'CLUSTER', 'kafka-cluster');
  if (denied) {
    return { throttleTimeMs: 0, errorCode: denied.code, errorMessage: denied.message, endpointType: body.endpointType, clusterId: gw.clusterId, controllerId: -1, brokers: [] };
  }
  return {
    throttleTimeMs: 0,
    errorCode: 0,
    errorMessage: null,
    endpointType: body.endpointType,
    clusterId: gw.clusterId,
    controllerId: gw.leadership.controller().nodeId,
    brokers: gw.leadership.nodes().map((n) => ({ brokerId: n.nodeId, ...addressOf(n, call.session.listenerName), rack: n.rack })),
  };
};
