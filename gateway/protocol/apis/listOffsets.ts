// ListOffsets: api key 2, v1–8, flexible from v6. v8 (KIP-405) adds timestamp
// -4, the earliest offset on local storage: all of rdmq's storage is local.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const listOffsetsApi = defineApi({
  apiKey: 2,
  name: 'ListOffsets',
  versions: '1-8',
  flexible: '6+',
  request: [
    f('replicaId', 'int32', '0+'),
    f('isolationLevel', 'int8', '2+'),
    f('topics', arrayOf(struct(
      f('name', 'string', '0+'),
      f('partitions', arrayOf(struct(
        f('partitionIndex', 'int32', '0+'),
        f('currentLeaderEpoch', 'int32', '4+', { default: -1 }),
        f('timestamp', 'int64', '0+'),
      )), '0+'),
    )), '0+'),
  ],
  response: [
    f('throttleTimeMs', 'int32', '2+'),
    f('topics', arrayOf(struct(
      f('name', 'string', '0+'),
      f('partitions', arrayOf(struct(
        f('partitionIndex', 'int32', '0+'),
        f('errorCode', 'int16', '0+'),
        f('timestamp', 'int64', '1+', { default: -1n }),
        f('offset', 'int64', '1+', { default: -1n }),
        f('leaderEpoch', 'int32', '4+', { default: -1 }),
      )), '0+'),
    )), '0+'),
  ],
});

export type ListOffsetsRequest = RequestOf<typeof listOffsetsApi>;
export type ListOffsetsResponse = ResponseOf<typeof listOffsetsApi>;
export type ListOffsetsResponseInput = ResponseInputOf<typeof listOffsetsApi>;
