// SyncGroup: api key 14, v0–5, flexible from v4.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const syncGroupApi = defineApi({
  apiKey: 14,
  name: 'SyncGroup',
  versions: '0-5',
  flexible: '4+',
  request: [
    f('groupId', 'string', '0+'),
    f('generationId', 'int32', '0+'),
    f('memberId', 'string', '0+'),
    f('groupInstanceId', 'string', '3+', { nullable: '3+', default: null }),
    f('protocolType', 'string', '5+', { nullable: '5+', default: null }),
    f('protocolName', 'string', '5+', { nullable: '5+', default: null }),
    f('assignments', arrayOf(struct(
      f('memberId', 'string', '0+'),
      f('assignment', 'bytes', '0+'),
    )), '0+'),
  ],
  response: [
    f('throttleTimeMs', 'int32', '1+'),
    f('errorCode', 'int16', '0+'),
    f('protocolType', 'string', '5+', { nullable: '5+', default: null }),
    f('protocolName', 'string', '5+', { nullable: '5+', default: null }),
    f('assignment', 'bytes', '0+'),
  ],
});

export type SyncGroupRequest = RequestOf<typeof syncGroupApi>;
export type SyncGroupResponse = ResponseOf<typeof syncGroupApi>;
export type SyncGroupResponseInput = ResponseInputOf<typeof syncGroupApi>;
