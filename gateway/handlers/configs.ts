// DescribeConfigs, AlterConfigs (replace every override) and
// IncrementalAlterConfigs (SET / DELETE one at a time) for topic configs.
// Broker resources describe as empty and cannot be altered here.
import { ResponseInput } from '../protocol';
import { effectiveTopicConfig, findTopic, parseTopicConfigs, TOPIC_CONFIG_DEFAULTS, TopicConfig, TopicConfigName } from '../broker-view';
import { refusal } from '../authorization';
import { GatewayContext, Handler, RequestContext } from '../context';
import { kafkaError, KafkaErrorValue, toKafkaError } from '../errors';

// Kafka's ConfigResource.Type, ConfigSource and ConfigType codes.
const RESOURCE_TOPIC = 2;
const RESOURCE_BROKER = 4;
const SOURCE_DYNAMIC_TOPIC = 1;
const SOURCE_DEFAULT = 5;
const OP_SET = 0;
const OP_DELETE = 1;

// Kafka's ConfigType codes.
const BOOLEAN = 1;
const STRING = 2;
const INT = 3;
const LONG = 5;
const DOUBLE = 6;
const LIST = 7;
const NO_COMPACTION = 'No effect: rdmq has no log compaction.';

const CONFIG_TYPES: Record<TopicConfigName, { type: number; documentation: string }> = {
  'retention.ms': { type: LONG, documentation: 'How long a record is kept before its segment may be freed; -1 keeps it forever.' },
  'retention.bytes': { type: LONG, documentation: 'Largest size of a partition before its oldest segments are freed; -1 means no limit.' },
  'segment.bytes': { type: INT, documentation: 'Size of the storage segments of this topic.' },
  'max.message.bytes': { type: INT, documentation: 'Largest record batch a producer may write, in bytes, through Kafka and the fast path.' },
  'cleanup.policy': { type: LIST, documentation: "Only 'delete' (retention) is supported; there is no log compaction." },
  'min.insync.replicas': { type: INT, documentation: 'Copies that must hold a write before it is acknowledged; with fewer in sync, producers get NOT_ENOUGH_REPLICAS.' },
  'unclean.leader.election.enable': { type: BOOLEAN, documentation: 'Stored; rdmq elects no leaders among replicas.' },
  'compression.type': { type: STRING, documentation: "Only 'producer': batches are stored as producers compressed them." },
  'message.timestamp.type': { type: STRING, documentation: 'CreateTime keeps producer timestamps; LogAppendTime stamps batches written through Kafka with the append time.' },
  'message.format.version': { type: STRING, documentation: 'Ignored, as by Kafka 3.0+: rdmq writes record batch v2 only.' },
  'message.downconversion.enable': { type: BOOLEAN, documentation: 'No effect: rdmq serves Fetch v4+, which needs no down-conversion.' },
  'message.timestamp.difference.max.ms': { type: LONG, documentation: 'Only the default: record timestamps are not bounded.' },
  'message.timestamp.before.max.ms': { type: LONG, documentation: 'Only the default: record timestamps are not bounded.' },
  'message.timestamp.after.max.ms': { type: LONG, documentation: 'Only the default: record timestamps are not bounded.' },
  'segment.ms': { type: LONG, documentation: 'Only the default: segments roll by size.' },
  'segment.jitter.ms': { type: LONG, documentation: 'No effect: segments roll by size.' },
  'segment.index.bytes': { type: INT, documentation: "No effect: the broker's offset index lives in memory." },
  'index.interval.bytes': { type: INT, documentation: "No effect: the broker's index interval is its own setting." },
  'flush.messages': { type: LONG, documentation: "Only the default: commits are persisted as the broker's --durability says." },
  'flush.ms': { type: LONG, documentation: "Only the default: commits are persisted as the broker's --durability says." },
  'file.delete.delay.ms': { type: LONG, documentation: 'No effect: freed segments are slots in one region, not files.' },
  preallocate: { type: BOOLEAN, documentation: 'No effect: every segment is preallocated in the region.' },
  'delete.retention.ms': { type: LONG, documentation: NO_COMPACTION },
  'min.compaction.lag.ms': { type: LONG, documentation: NO_COMPACTION },
  'max.compaction.lag.ms': { type: LONG, documentation: NO_COMPACTION },
  'min.cleanable.dirty.ratio': { type: DOUBLE, documentation: NO_COMPACTION },
};

export interface ConfigEntry {
  name: string;
  value: string;
  readOnly: boolean;
  isDefault: boolean;
  configSource: number;
  isSensitive: boolean;
  configType: number;
  documentation: string;
  synonyms: { name: string; value: string; source: number }[];
}

/** Every topic config with its value and where it comes from; `keys` filters (null: all). */
export function describeTopicConfigEntries(
  config: TopicConfig,
  overrides: Partial<TopicConfig>,
  keys: readonly string[] | null,
  defaults: Readonly<TopicConfig> = TOPIC_CONFIG_DEFAULTS,
): ConfigEntry[] {
  const names = (Object.keys(TOPIC_CONFIG_DEFAULTS) as TopicConfigName[]).filter((n) => keys === null || keys.includes(n));
  return names.map((name) => {
    const overridden = overrides[name] !== undefined;
    const synonyms = [
      ...(overridden ? [{ name, value: String(overrides[name]), source: SOURCE_DYNAMIC_TOPIC }] : []),
      { name, value: String(defaults[name]), source: SOURCE_DEFAULT },
    ];
    return {
      name,
      value: String(config[name]),
      readOnly: false,
      isDefault: !overridden,
      configSource: overridden ? SOURCE_DYNAMIC_TOPIC : SOURCE_DEFAULT,
      isSensitive: false,
      configType: CONFIG_TYPES[name].type,
      documentation: CONFIG_TYPES[name].documentation,
      synonyms,
    };
  });
}

export const describeConfigs: Handler<'DescribeConfigs'> = (body, call) => {
  const gw = call.gateway;
  return {
    throttleTimeMs: 0,
    results: body.resources.map((r) => {
      const base = { resourceType: r.resourceType, resourceName: r.resourceName };
      // A broker's configs are the cluster's to describe; a topic's its own.
      const denied = r.resourceType === RESOURCE_BROKER ? refusal(call, 'DESCRIBE_CONFIGS', 'CLUSTER', 'kafka-cluster') : r.resourceType === RESOURCE_TOPIC ? refusal(call, 'DESCRIBE_CONFIGS', 'TOPIC', r.resourceName) : null;
      if (denied) return { ...base, errorCode: denied.code, errorMessage: denied.message, configs: [] };
      if (r.resourceType === RESOURCE_BROKER) return { ...base, errorCode: 0, errorMessage: null, configs: [] };
      if (r.resourceType !== RESOURCE_TOPIC) {
        const e = kafkaError('INVALID_REQUEST', `resource type ${r.resourceType} is not supported; only topics (2) and brokers (4)`);
        return { ...base, errorCode: e.code, errorMessage: e.message, configs: [] };
      }
      const topic = findTopic(gw.broker, r.resourceName);
      if (!topic) {
        const e = kafkaError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${r.resourceName}' does not exist`);
        return { ...base, errorCode: e.code, errorMessage: e.message, configs: [] };
      }
      const configs = describeTopicConfigEntries(topic.config, topic.configOverrides, r.configurationKeys, gw.broker.metadata.topicConfigDefaults).map((c) => ({
        ...c,
        synonyms: body.includeSynonyms ? c.synonyms : [],
        documentation: body.includeDocumentation ? c.documentation : null,
      }));
      return { ...base, errorCode: 0, errorMessage: null, configs };
    }),
  };
};

type AlterResult = NonNullable<ResponseInput<'AlterConfigs'>['responses']>[number];

/** The overrides a change would leave, checked like the broker checks them; throws a coded error. */
export function plannedOverrides(
  current: Partial<TopicConfig>,
  changes: Record<string, string | null>,
  replace: boolean,
  defaults: Readonly<TopicConfig> = TOPIC_CONFIG_DEFAULTS,
): Partial<TopicConfig> {
  const overrides: Record<string, unknown> = replace ? {} : { ...current };
  const sets: Record<string, string> = {};
  for (const [name, value] of Object.entries(changes)) {
    if (value === null) {
      if (!(name in TOPIC_CONFIG_DEFAULTS)) parseTopicConfigs({ [name]: '' }); // throws: unknown config
      delete overrides[name];
    } else {
      sets[name] = value;
    }
  }
  Object.assign(overrides, parseTopicConfigs(sets));
  const effective = effectiveTopicConfig(overrides as Partial<TopicConfig>, defaults);
  if (effective['max.message.bytes'] > effective['segment.bytes']) {
    throw Object.assign(new Error(`max.message.bytes ${effective['max.message.bytes']} exceeds segment.bytes ${effective['segment.bytes']}: a batch must fit in one segment`), {
      kafkaErrorCode: kafkaError('INVALID_CONFIG').code,
    });
  }
  return overrides as Partial<TopicConfig>;
}

async function alterTopic(
  call: RequestContext,
  resource: { resourceType: number; resourceName: string },
  changes: Record<string, string | null> | KafkaErrorValue,
  replace: boolean,
  validateOnly: boolean,
): Promise<AlterResult> {
  const base = { resourceType: resource.resourceType, resourceName: resource.resourceName };
  const fail = (e: KafkaErrorValue): AlterResult => ({ ...base, errorCode: e.code, errorMessage: e.message });
  if (resource.resourceType !== RESOURCE_TOPIC) {
    return fail(kafkaError('INVALID_REQUEST', `only topic configs (resource type 2) can be altered through the gateway, not resource type ${resource.resourceType}`));
  }
  const denied = refusal(call, 'ALTER_CONFIGS', 'TOPIC', resource.resourceName);
  if (denied) return fail(denied);
  if ('code' in changes) return fail(changes as KafkaErrorValue);
  const gw = call.gateway;
  const topic = findTopic(gw.broker, resource.resourceName);
  if (!topic) return fail(kafkaError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${resource.resourceName}' does not exist`));
  try {
    if (validateOnly) plannedOverrides(topic.configOverrides, changes as Record<string, string | null>, replace, gw.broker.metadata.topicConfigDefaults);
    else await gw.broker.metadata.alterConfigs(topic.name, changes as Record<string, string | null>, { replace });
    return { ...base, errorCode: 0, errorMessage: null };
  } catch (err) {
    return fail(toKafkaError(err));
  }
}

export const alterConfigs: Handler<'AlterConfigs'> = async (body, call) => ({
  throttleTimeMs: 0,
  responses: await Promise.all(
    body.resources.map((r) =>
      alterTopic(call, r, Object.fromEntries(r.configs.map((c) => [c.name, c.value])), true, body.validateOnly),
    ),
  ),
});

export const incrementalAlterConfigs: Handler<'IncrementalAlterConfigs'> = async (body, call) => ({
  throttleTimeMs: 0,
  responses: await Promise.all(body.resources.map((r) => alterTopic(call, r, incrementalChanges(r.configs), false, body.validateOnly))),
});

function incrementalChanges(configs: { name: string; configOperation: number; value: string | null }[]): Record<string, string | null> | KafkaErrorValue {
  const changes: Record<string, string | null> = {};
  for (const c of configs) {
    if (c.name in changes) return kafkaError('INVALID_REQUEST', `config ${c.name} is named more than once`);
    if (c.configOperation === OP_SET) {
      if (c.value === null) return kafkaError('INVALID_REQUEST', `SET of ${c.name} needs a value`);
      changes[c.name] = c.value;
    } else if (c.configOperation === OP_DELETE) {
      changes[c.name] = null;
    } else {
      return kafkaError('INVALID_CONFIG', `operation ${c.configOperation} on ${c.name} is not supported: topic configs here are single values (SET 0, DELETE 1)`);
    }
  }
  return changes;
}
