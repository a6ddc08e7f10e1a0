// CreateTopics: api key 19, v0–7, flexible from v5.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const createTopicsApi = defineApi({
  apiKey: 19,
  name: 'CreateTopics',
  versions: '0-7',
  flexible: '5+',
  request: [
    f('topics', arrayOf(struct(
      f('name', 'string', '0+'),
      f('numPartitions', 'int32', '0+'),
      f('replicationFactor', 'int16', '0+'),
      f('assignments', arrayOf(struct(
        f('partitionIndex', 'int32', '0+'),
        f('brokerIds', arrayOf('int32'), '0+'),
      )), '0+'),
      f('configs', arrayOf(struct(
        f('name', 'string', '0+'),
        f('value', 'string', '0+', { nullable: '0+' }),
      )), '0+'),
    )), '0+'),
    f('timeoutMs', 'int32', '0+', { default: 60000 }),
    f('validateOnly', 'bool', '1+', { default: false }),
  ],
  response: [
    f('throttleTimeMs', 'int32', '2+'),
    f('topics', arrayOf(struct(
      f('name', 'string', '0+'),
      f('topicId', 'uuid', '7+'),
      f('errorCode', 'int16', '0+'),
      f('errorMessage', 'string', '1+', { nullable: '0+' }),
      f('topicConfigErrorCode', 'int16', '5+', { tag: 0, tagged: '5+' }),
      f('numPartitions', 'int32', '5+', { default: -1 }),
      f('replicationFactor', 'int16', '5+', { default: -1 }),
      f('configs', arrayOf(struct(
        f('name', 'string', '5+'),
        f('value', 'string', '5+', { nullable: '5+' }),
        f('readOnly', 'bool', '5+'),
        f('configSource', 'int8', '5+', { default: -1 }),
        f('isSensitive', 'bool', '5+'),
      )), '5+', { nullable: '5+' }),
    )), '0+'),
  ],
});

export type CreateTopicsRequest = RequestOf<typeof createTopicsApi>;
export type CreateTopicsResponse = ResponseOf<typeof createTopicsApi>;
export type CreateTopicsResponseInput = ResponseInputOf<typeof createTopicsApi>;
