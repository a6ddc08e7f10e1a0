// OffsetForLeaderEpoch: api key 23, v0–4, flexible from v4.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const offsetForLeaderEpochApi = defineApi({
  apiKey: 23,
  name: 'OffsetForLeaderEpoch',
  versions: '0-4',
  flexible: '4+',
  request: [
    f('replicaId', 'int32', '3+', { default: -2 }),
    f('topics', arrayOf(struct(
      f('topic', 'string', '0+'),
      f('partitions', arrayOf(struct(
        f('partition', 'int32', '0+'),
        f('currentLeaderEpoch', 'int32', '2+', { default: -1 }),
        f('leaderEpoch', 'int32', '0+'),
      )), '0+'),
    )), '0+'),
  ],
  response: [
    f('throttleTimeMs', 'int32', '2+'),
    f('topics', arrayOf(struct(
      f('topic', 'string', '0+'),
      f('partitions', arrayOf(struct(
        f('errorCode', 'int16', '0+'),
        f('partition', 'int32', '0+'),
        f('leaderEpoch', 'int32', '1+', { default: -1 }),
        f('endOffset', 'int64', '0+', { default: -1n }),
      )), '0+'),
    )), '0+'),
  ],
});

export type OffsetForLeaderEpochRequest = RequestOf<typeof offsetForLeaderEpochApi>;
export type OffsetForLeaderEpochResponse = ResponseOf<typeof offsetForLeaderEpochApi>;
export type OffsetForLeaderEpochResponseInput = ResponseInputOf<typeof offsetForLeaderEpochApi>;
