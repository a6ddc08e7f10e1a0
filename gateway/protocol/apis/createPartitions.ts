// CreatePartitions: api key 37, v0–3, flexible from v2.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const createPartitionsApi = defineApi({
  apiKey: 37,
  name: 'CreatePartitions',
  versions: '0-3',
  flexible: '2+',
  request: [
    f('topics', arrayOf(struct(
      f('name', 'string', '0+'),
      f('count', 'int32', '0+'),
      f('assignments', arrayOf(struct(
        f('brokerIds', arrayOf('int32'), '0+'),
      )), '0+', { nullable: '0+' }),
    )), '0+'),
    f('timeoutMs', 'int32', '0+'),
    f('validateOnly', 'bool', '0+'),
  ],
  response: [
    f('throttleTimeMs', 'int32', '0+'),
    f('results', arrayOf(struct(
      f('name', 'string', '0+'),
      f('errorCode', 'int16', '0+'),
      f('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
    )), '0+'),
  ],
});

export type CreatePartitionsRequest = RequestOf<typeof createPartitionsApi>;
export type CreatePartitionsResponse = ResponseOf<typeof createPartitionsApi>;
export type CreatePartitionsResponseInput = ResponseInputOf<typeof createPartitionsApi>;
