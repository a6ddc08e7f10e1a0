// Heartbeat: api key 12, v0–4, flexible from v4.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const heartbeatApi = defineApi({
  apiKey: 12,
  name: 'Heartbeat',
  versions: '0-4',
  flexible: '4+',
  request: [
    f('groupId', 'string', '0+'),
    f('generationId', 'int32', '0+'),
    f('memberId', 'string', '0+'),
    f('groupInstanceId', 'string', '3+', { nullable: '3+', default: null }),
  ],
  response: [
    f('throttleTimeMs', 'int32', '1+'),
    f('errorCode', 'int16', '0+'),
  ],
});

export type HeartbeatRequest = RequestOf<typeof heartbeatApi>;
export type HeartbeatResponse = ResponseOf<typeof heartbeatApi>;
export type HeartbeatResponseInput = ResponseInputOf<typeof heartbeatApi>;
