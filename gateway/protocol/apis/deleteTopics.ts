// DeleteTopics: api key 20, v0–6, flexible from v4.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const deleteTopicsApi = defineApi({
  apiKey: 20,
  name: 'DeleteTopics',
  versions: '0-6',
  flexible: '4+',
  request: [
    f('topics', arrayOf(struct(
      f('name', 'string', '6+', { nullable: '6+', default: null }),
      f('topicId', 'uuid', '6+'),
    )), '6+'),
    f('topicNames', arrayOf('string'), '0-5'),
    f('timeoutMs', 'int32', '0+'),
  ],
  response: [
    f('throttleTimeMs', 'int32', '1+'),
    f('responses', arrayOf(struct(
      f('name', 'string', '0+', { nullable: '6+' }),
      f('topicId', 'uuid', '6+'),
      f('errorCode', 'int16', '0+'),
      f('errorMessage', 'string', '5+', { nullable: '5+', default: null }),
    )), '0+'),
  ],
});

export type DeleteTopicsRequest = RequestOf<typeof deleteTopicsApi>;
export type DeleteTopicsResponse = ResponseOf<typeof deleteTopicsApi>;
export type DeleteTopicsResponseInput = ResponseInputOf<typeof deleteTopicsApi>;
