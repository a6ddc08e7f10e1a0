// OffsetFetch: api key 9, v0–8, flexible from v6.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const offsetFetchApi = defineApi({
  apiKey: 9,
  name: 'OffsetFetch',
  versions: '0-8',
  flexible: '6+',
  request: [
    f('groupId', 'string', '0-7'),
    f('topics', arrayOf(struct(
      f('name', 'string', '0-7'),
      f('partitionIndexes', arrayOf('int32'), '0-7'),
    )), '0-7', { nullable: '2-7' }),
    f('groups', arrayOf(struct(
      f('groupId', 'string', '8+'),
      f('topics', arrayOf(struct(
        f('name', 'string', '8+'),
        f('partitionIndexes', arrayOf('int32'), '8+'),
      )), '8+', { nullable: '8+' }),
    )), '8+'),
    f('requireStable', 'bool', '7+', { default: false }),
  ],
  response: [
    f('throttleTimeMs', 'int32', '3+'),
    f('topics', arrayOf(struct(
      f('name', 'string', '0-7'),
      f('partitions', arrayOf(struct(
        f('partitionIndex', 'int32', '0-7'),
        f('committedOffset', 'int64', '0-7'),
        f('committedLeaderEpoch', 'int32', '5-7', { default: -1 }),
        f('metadata', 'string', '0-7', { nullable: '0-7' }),
        f('errorCode', 'int16', '0-7'),
      )), '0-7'),
    )), '0-7'),
    f('errorCode', 'int16', '2-7', { default: 0 }),
    f('groups', arrayOf(struct(
      f('groupId', 'string', '8+'),
      f('topics', arrayOf(struct(
        f('name', 'string', '8+'),
        f('partitions', arrayOf(struct(
          f('partitionIndex', 'int32', '8+'),
          f('committedOffset', 'int64', '8+'),
          f('committedLeaderEpoch', 'int32', '8+', { default: -1 }),
          f('metadata', 'string', '8+', { nullable: '8+' }),
          f('errorCode', 'int16', '8+'),
        )), '8+'),
      )), '8+'),
      f('errorCode', 'int16', '8+', { default: 0 }),
    )), '8+'),
  ],
});

export type OffsetFetchRequest = RequestOf<typeof offsetFetchApi>;
export type OffsetFetchResponse = ResponseOf<typeof offsetFetchApi>;
export type OffsetFetchResponseInput = ResponseInputOf<typeof offsetFetchApi>;
