// Produce: api key 0, v3–10, flexible from v9. v10 (KIP-951) may tell a new
// leader in tagged fields; rdmq never moves leadership that way and sends none.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const produceApi = defineApi({
  apiKey: 0,
  name: 'Produce',
  versions: '3-10',
  flexible: '9+',
  request: [
    f('transactionalId', 'string', '3+', { nullable: '3+', default: null }),
    f('acks', 'int16', '0+'),
    f('timeoutMs', 'int32', '0+'),
    f('topicData', arrayOf(struct(
      f('name', 'string', '0+'),
      f('partitionData', arrayOf(struct(
        f('index', 'int32', '0+'),
        f('records', 'records', '0+', { nullable: '0+' }),
      )), '0+'),
    )), '0+'),
  ],
  response: [
    f('responses', arrayOf(struct(
      f('name', 'string', '0+'),
      f('partitionResponses', arrayOf(struct(
        f('index', 'int32', '0+'),
        f('errorCode', 'int16', '0+'),
        f('baseOffset', 'int64', '0+'),
        f('logAppendTimeMs', 'int64', '2+', { default: -1n }),
        f('logStartOffset', 'int64', '5+', { default: -1n }),
        f('recordErrors', arrayOf(struct(
          f('batchIndex', 'int32', '8+'),
          f('batchIndexErrorMessage', 'string', '8+', { nullable: '8+', default: null }),
        )), '8+'),
        f('errorMessage', 'string', '8+', { nullable: '8+', default: null }),
        f('currentLeader', struct(
          f('leaderId', 'int32', '10+', { default: -1 }),
          f('leaderEpoch', 'int32', '10+', { default: -1 }),
        ), '10+', { tag: 0, tagged: '10+' }),
      )), '0+'),
    )), '0+'),
    f('throttleTimeMs', 'int32', '1+', { default: 0 }),
    f('nodeEndpoints', arrayOf(struct(
      f('nodeId', 'int32', '10+'),
      f('host', 'string', '10+'),
      f('port', 'int32', '10+'),
      f('rack', 'string', '10+', { nullable: '10+', default: null }),
    )), '10+', { tag: 0, tagged: '10+' }),
  ],
});

export type ProduceRequest = RequestOf<typeof produceApi>;
export type ProduceResponse = ResponseOf<typeof produceApi>;
export type ProduceResponseInput = ResponseInputOf<typeof produceApi>;
