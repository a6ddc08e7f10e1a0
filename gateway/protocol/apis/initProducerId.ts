// InitProducerId: api key 22, v0–4, flexible from v2.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const initProducerIdApi = defineApi({
  apiKey: 22,
  name: 'InitProducerId',
  versions: '0-4',
  flexible: '2+',
  request: [
    f('transactionalId', 'string', '0+', { nullable: '0+' }),
    f('transactionTimeoutMs', 'int32', '0+'),
    f('producerId', 'int64', '3+', { default: -1n }),
    f('producerEpoch', 'int16', '3+', { default: -1 }),
  ],
  response: [
    f('throttleTimeMs', 'int32', '0+'),
    f('errorCode', 'int16', '0+'),
    f('producerId', 'int64', '0+', { default: -1n }),
    f('producerEpoch', 'int16', '0+'),
  ],
});

export type InitProducerIdRequest = RequestOf<typeof initProducerIdApi>;
export type InitProducerIdResponse = ResponseOf<typeof initProducerIdApi>;
export type InitProducerIdResponseInput = ResponseInputOf<typeof initProducerIdApi>;
