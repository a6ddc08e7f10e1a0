// Fetch: api key 1, v4–16, flexible from v12. v13 names topics by id
// (KIP-516), v14 adds nothing on the wire, v15 moves the replica id into a
// tagged ReplicaState (KIP-903), v16 may add NodeEndpoints (KIP-951; rdmq
// never moves leadership, so it sends none).
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const fetchApi = defineApi({
  apiKey: 1,
  name: 'Fetch',
  versions: '4-16',
  flexible: '12+',
  request: [
    f('clusterId', 'string', '12+', { nullable: '12+', tag: 0, tagged: '12+', default: null }),
    f('replicaId', 'int32', '0-14', { default: -1 }),
    f('replicaState', struct(
      f('replicaId', 'int32', '15+', { default: -1 }),
      f('replicaEpoch', 'int64', '15+', { default: -1n }),
    ), '15+', { tag: 1, tagged: '15+' }),
    f('maxWaitMs', 'int32', '0+'),
    f('minBytes', 'int32', '0+'),
    f('maxBytes', 'int32', '3+', { default: 2147483647 }),
    f('isolationLevel', 'int8', '4+', { default: 0 }),
    f('sessionId', 'int32', '7+', { default: 0 }),
    f('sessionEpoch', 'int32', '7+', { default: -1 }),
    f('topics', arrayOf(struct(
      f('topic', 'string', '0-12'),
      f('topicId', 'uuid', '13+'),
      f('partitions', arrayOf(struct(
        f('partition', 'int32', '0+'),
        f('currentLeaderEpoch', 'int32', '9+', { default: -1 }),
        f('fetchOffset', 'int64', '0+'),
        f('lastFetchedEpoch', 'int32', '12+', { default: -1 }),
        f('logStartOffset', 'int64', '5+', { default: -1n }),
        f('partitionMaxBytes', 'int32', '0+'),
      )), '0+'),
    )), '0+'),
    f('forgottenTopicsData', arrayOf(struct(
      f('topic', 'string', '7-12'),
      f('topicId', 'uuid', '13+'),
      f('partitions', arrayOf('int32'), '7+'),
    )), '7+'),
    f('rackId', 'string', '11+', { default: '' }),
  ],
  response: [
    f('throttleTimeMs', 'int32', '1+'),
    f('errorCode', 'int16', '7+'),
    f('sessionId', 'int32', '7+', { default: 0 }),
    f('responses', arrayOf(struct(
      f('topic', 'string', '0-12'),
      f('topicId', 'uuid', '13+'),
      f('partitions', arrayOf(struct(
        f('partitionIndex', 'int32', '0+'),
        f('errorCode', 'int16', '0+'),
        f('highWatermark', 'int64', '0+'),
        f('lastStableOffset', 'int64', '4+', { default: -1n }),
        f('logStartOffset', 'int64', '5+', { default: -1n }),
        f('divergingEpoch', struct(
          f('epoch', 'int32', '12+', { default: -1 }),
          f('endOffset', 'int64', '12+', { default: -1n }),
        ), '12+', { tag: 0, tagged: '12+' }),
        f('currentLeader', struct(
          f('leaderId', 'int32', '12+', { default: -1 }),
          f('leaderEpoch', 'int32', '12+', { default: -1 }),
        ), '12+', { tag: 1, tagged: '12+' }),
        f('snapshotId', struct(
          f('endOffset', 'int64', '0+', { default: -1n }),
          f('epoch', 'int32', '0+', { default: -1 }),
        ), '12+', { tag: 2, tagged: '12+' }),
        f('abortedTransactions', arrayOf(struct(
          f('producerId', 'int64', '4+'),
          f('firstOffset', 'int64', '4+'),
        )), '4+', { nullable: '4+' }),
        f('preferredReadReplica', 'int32', '11+', { default: -1 }),
        f('records', 'records', '0+', { nullable: '0+' }),
      )), '0+'),
    )), '0+'),
    f('nodeEndpoints', arrayOf(struct(
      f('nodeId', 'int32', '16+'),
      f('host', 'string', '16+'),
      f('port', 'int32', '16+'),
      f('rack', 'string', '16+', { nullable: '16+', default: null }),
    )), '16+', { tag: 0, tagged: '16+' }),
  ],
});

export type FetchRequest = RequestOf<typeof fetchApi>;
export type FetchResponse = ResponseOf<typeof fetchApi>;
export type FetchResponseInput = ResponseInputOf<typeof fetchApi>;
