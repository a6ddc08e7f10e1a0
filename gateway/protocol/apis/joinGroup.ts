// JoinGroup: api key 11, v0–9, flexible from v6.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const joinGroupApi = defineApi({
  apiKey: 11,
  name: 'JoinGroup',
  versions: '0-9',
  flexible: '6+',
  request: [
    f('groupId', 'string', '0+'),
    f('sessionTimeoutMs', 'int32', '0+'),
    f('rebalanceTimeoutMs', 'int32', '1+', { default: -1 }),
    f('memberId', 'string', '0+'),
    f('groupInstanceId', 'string', '5+', { nullable: '5+', default: null }),
    f('protocolType', 'string', '0+'),
    f('protocols', arrayOf(struct(
      f('name', 'string', '0+'),
      f('metadata', 'bytes', '0+'),
    )), '0+'),
    f('reason', 'string', '8+', { nullable: '8+', default: null }),
  ],
  response: [
    f('throttleTimeMs', 'int32', '2+'),
    f('errorCode', 'int16', '0+'),
    f('generationId', 'int32', '0+', { default: -1 }),
    f('protocolType', 'string', '7+', { nullable: '7+', default: null }),
    f('protocolName', 'string', '0+', { nullable: '7+' }),
    f('leader', 'string', '0+'),
    f('skipAssignment', 'bool', '9+', { default: false }),
    f('memberId', 'string', '0+'),
    f('members', arrayOf(struct(
      f('memberId', 'string', '0+'),
      f('groupInstanceId', 'string', '5+', { nullable: '5+', default: null }),
      f('metadata', 'bytes', '0+'),
    )), '0+'),
  ],
});

export type JoinGroupRequest = RequestOf<typeof joinGroupApi>;
export type JoinGroupResponse = ResponseOf<typeof joinGroupApi>;
export type JoinGroupResponseInput = ResponseInputOf<typeof joinGroupApi>;
