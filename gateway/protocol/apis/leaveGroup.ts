// LeaveGroup: api key 13, v0–5, flexible from v4.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const leaveGroupApi = defineApi({
  apiKey: 13,
  name: 'LeaveGroup',
  versions: '0-5',
  flexible: '4+',
  request: [
    f('groupId', 'string', '0+'),
    f('memberId', 'string', '0-2'),
    f('members', arrayOf(struct(
      f('memberId', 'string', '3+'),
      f('groupInstanceId', 'string', '3+', { nullable: '3+', default: null }),
      f('reason', 'string', '5+', { nullable: '5+', default: null }),
    )), '3+'),
  ],
  response: [
    f('throttleTimeMs', 'int32', '1+'),
    f('errorCode', 'int16', '0+'),
    f('members', arrayOf(struct(
      f('memberId', 'string', '3+'),
      f('groupInstanceId', 'string', '3+', { nullable: '3+' }),
      f('errorCode', 'int16', '3+'),
    )), '3+'),
  ],
});

export type LeaveGroupRequest = RequestOf<typeof leaveGroupApi>;
export type LeaveGroupResponse = ResponseOf<typeof leaveGroupApi>;
export type LeaveGroupResponseInput = ResponseInputOf<typeof leaveGroupApi>;
