// OffsetDelete: api key 47, v0, never flexible.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const offsetDeleteApi = defineApi({
  apiKey: 47,
  name: 'OffsetDelete',
  versions: '0-0',
  flexible: 'none',
  request: [
    f('groupId', 'string', '0+'),
    f('topics', arrayOf(struct(
      f('name', 'string', '0+'),
      f('partitions', arrayOf(struct(
        f('partitionIndex', 'int32', '0+'),
      )), '0+'),
    )), '0+'),
  ],
  response: [
    f('errorCode', 'int16', '0+'),
    f('throttleTimeMs', 'int32', '0+'),
    f('topics', arrayOf(struct(
      f('name', 'string', '0+'),
      f('partitions', arrayOf(struct(
        f('partitionIndex', 'int32', '0+'),
        f('errorCode', 'int16', '0+'),
      )), '0+'),
    )), '0+'),
  ],
});

export type OffsetDeleteRequest = RequestOf<typeof offsetDeleteApi>;
export type OffsetDeleteResponse = ResponseOf<typeof offsetDeleteApi>;
export type OffsetDeleteResponseInput = ResponseInputOf<typeof offsetDeleteApi>;
