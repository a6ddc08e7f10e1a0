// Metadata: api key 3, v0–12, flexible from v9.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const metadataApi = defineApi({
  apiKey: 3,
  name: 'Metadata',
  versions: '0-12',
  flexible: '9+',
  request: [
    f('topics', arrayOf(struct(
      f('topicId', 'uuid', '10+'),
      f('name', 'string', '0+', { nullable: '10+' }),
    )), '0+', { nullable: '1+' }),
    f('allowAutoTopicCreation', 'bool', '4+', { default: true }),
    f('includeClusterAuthorizedOperations', 'bool', '8-10'),
    f('includeTopicAuthorizedOperations', 'bool', '8+'),
  ],
  response: [
    f('throttleTimeMs', 'int32', '3+'),
    f('brokers', arrayOf(struct(
      f('nodeId', 'int32', '0+'),
      f('host', 'string', '0+'),
      f('port', 'int32', '0+'),
      f('rack', 'string', '1+', { nullable: '1+', default: null }),
    )), '0+'),
    f('clusterId', 'string', '2+', { nullable: '2+', default: null }),
    f('controllerId', 'int32', '1+', { default: -1 }),
    f('topics', arrayOf(struct(
      f('errorCode', 'int16', '0+'),
      f('name', 'string', '0+', { nullable: '12+' }),
      f('topicId', 'uuid', '10+'),
      f('isInternal', 'bool', '1+', { default: false }),
      f('partitions', arrayOf(struct(
        f('errorCode', 'int16', '0+'),
        f('partitionIndex', 'int32', '0+'),
        f('leaderId', 'int32', '0+'),
        f('leaderEpoch', 'int32', '7+', { default: -1 }),
        f('replicaNodes', arrayOf('int32'), '0+'),
        f('isrNodes', arrayOf('int32'), '0+'),
        f('offlineReplicas', arrayOf('int32'), '5+'),
      )), '0+'),
      f('topicAuthorizedOperations', 'int32', '8+', { default: -2147483648 }),
    )), '0+'),
    f('clusterAuthorizedOperations', 'int32', '8-10', { default: -2147483648 }),
  ],
});

export type MetadataRequest = RequestOf<typeof metadataApi>;
export type MetadataResponse = ResponseOf<typeof metadataApi>;
export type MetadataResponseInput = ResponseInputOf<typeof metadataApi>;
