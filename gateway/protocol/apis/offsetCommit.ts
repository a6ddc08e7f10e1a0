// OffsetCommit: api key 8, v0–8, flexible from v8.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const offsetCommitApi = defineApi({
  apiKey: 8,
  name: 'OffsetCommit',
  versions: '0-8',
  flexible: '8+',
  request: [
    f('groupId', 'string', '0+'),
    f('generationIdOrMemberEpoch', 'int32', '1+', { default: -1 }),
    f('memberId', 'string', '1+'),
    f('groupInstanceId', 'string', '7+', { nullable: '7+', default: null }),
    f('retentionTimeMs', 'int64', '2-4', { default: -1n }),
    f('topics', arrayOf(struct(
      f('name', 'string', '0+'),
      f('partitions', arrayOf(struct(
        f('partitionIndex', 'int32', '0+'),
        f('committedOffset', 'int64', '0+'),
        f('committedLeaderEpoch', 'int32', '6+', { default: -1 }),
        f('commitTimestamp', 'int64', '1', { default: -1n }),
        f('committedMetadata', 'string', '0+', { nullable: '0+' }),
      )), '0+'),
    )), '0+'),
  ],
  response: [
    f('throttleTimeMs', 'int32', '3+'),
    f('topics', arrayOf(struct(
      f('name', 'string', '0+'),
      f('partitions', arrayOf(struct(
        f('partitionIndex', 'int32', '0+'),
        f('errorCode', 'int16', '0+'),
      )), '0+'),
    )), '0+'),
  ],
});

export type OffsetCommitRequest = RequestOf<typeof offsetCommitApi>;
export type OffsetCommitResponse = ResponseOf<typeof offsetCommitApi>;
export type OffsetCommitResponseInput = ResponseInputOf<typeof offsetCommitApi>;
