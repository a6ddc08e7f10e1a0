// DeleteRecords: api key 21, v0–2, flexible from v2.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const deleteRecordsApi = defineApi({
  apiKey: 21,
  name: 'DeleteRecords',
  versions: '0-2',
  flexible: '2+',
  request: [
    f('topics', arrayOf(struct(
      f('name', 'string', '0+'),
      f('partitions', arrayOf(struct(
        f('partitionIndex', 'int32', '0+'),
        f('offset', 'int64', '0+'),
      )), '0+'),
    )), '0+'),
    f('timeoutMs', 'int32', '0+'),
  ],
  response: [
    f('throttleTimeMs', 'int32', '0+'),
    f('topics', arrayOf(struct(
      f('name', 'string', '0+'),
      f('partitions', arrayOf(struct(
        f('partitionIndex', 'int32', '0+'),
        f('lowWatermark', 'int64', '0+'),
        f('errorCode', 'int16', '0+'),
      )), '0+'),
    )), '0+'),
  ],
});

export type DeleteRecordsRequest = RequestOf<typeof deleteRecordsApi>;
export type DeleteRecordsResponse = ResponseOf<typeof deleteRecordsApi>;
export type DeleteRecordsResponseInput = ResponseInputOf<typeof deleteRecordsApi>;
