// What the gateway reads from the in-process broker, in one place: topic
// lookups straight from the durable metadata state (no clone on the produce
// and fetch paths), effective configs, and Kafka topic ids.
//
import {
  Broker,
  effectiveTopicConfig,
  MAX_PRODUCER_EPOCH,
  parseTopicConfigs,
  PartitionRuntime,
  TOPIC_CONFIG_DEFAULTS,
  TopicConfig,
  TopicConfigName,
  validateTopicName,
} from '../broker';

export { effectiveTopicConfig, MAX_PRODUCER_EPOCH, parseTopicConfigs, TOPIC_CONFIG_DEFAULTS, validateTopicName };
export type { TopicConfig, TopicConfigName };
export { GroupCoordinator, GROUP_ERRORS } from '../broker';
export type { GroupErrorName } from '../broker';

export interface TopicRef {
  name: string;
  topicId: number;
  partitionCount: number;
  config: TopicConfig;
  configOverrides: Partial<TopicConfig>;
}

/** The topic as the durable metadata has it, or undefined. Cheap: no copy of segment lists. */
export function findTopic(broker: Broker, name: string): TopicRef | undefined {
  const state = broker.metadata.state;
  const topicId = state.topicIdsByName.get(name);
  const topic = topicId === undefined ? undefined : state.topics.get(topicId);
  if (!topic) return undefined;
  return {
    name: topic.name,
    topicId: topic.topicId,
    partitionCount: topic.partitions.length,
    config: effectiveTopicConfig(topic.configOverrides),
    configOverrides: topic.configOverrides,
  };
}

export function findTopicById(broker: Broker, topicId: number): TopicRef | undefined {
  const topic = broker.metadata.state.topics.get(topicId);
  return topic ? findTopic(broker, topic.name) : undefined;
}

/** The partition's live state, or undefined when the topic or partition does not exist. */
export function findPartition(broker: Broker, topic: TopicRef, partition: number): PartitionRuntime | undefined {
  if (!Number.isInteger(partition) || partition < 0 || partition >= topic.partitionCount) return undefined;
  try {
    return broker.partition(topic.topicId, partition);
  } catch {
    return undefined;
  }
}

// Kafka topic ids are UUIDs; rdmq's are integers that are never reused. The
// UUID is a fixed, non-zero prefix ("rdmq" + version nibble) and the integer.
const TOPIC_UUID_PREFIX = Buffer.from([0x72, 0x64, 0x6d, 0x71, 0x00, 0x00, 0x40, 0x00]);

export function topicUuid(topicId: number): Buffer {
  const uuid = Buffer.alloc(16);
  TOPIC_UUID_PREFIX.copy(uuid, 0);
  uuid.writeBigUInt64BE(BigInt(topicId), 8);
  return uuid;
}

/** The integer id inside a UUID made by topicUuid, or undefined for any other UUID. */
export function topicIdFromUuid(uuid: Buffer): number | undefined {
  if (uuid.length !== 16 || !uuid.subarray(0, 8).equals(TOPIC_UUID_PREFIX)) return undefined;
  const id = uuid.readBigUInt64BE(8);
  return id <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(id) : undefined;
}

export const ZERO_UUID = Buffer.alloc(16);
