// DescribeGroups: api key 15, v0–5, flexible from v5.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const describeGroupsApi = defineApi({
  apiKey: 15,
  name: 'DescribeGroups',
  versions: '0-5',
  flexible: '5+',
  request: [
    f('groups', arrayOf('string'), '0+'),
    f('includeAuthorizedOperations', 'bool', '3+'),
  ],
  response: [
    f('throttleTimeMs', 'int32', '1+'),
    f('groups', arrayOf(struct(
      f('errorCode', 'int16', '0+'),
      f('groupId', 'string', '0+'),
      f('groupState', 'string', '0+'),
      f('protocolType', 'string', '0+'),
      f('protocolData', 'string', '0+'),
      f('members', arrayOf(struct(
        f('memberId', 'string', '0+'),
        f('groupInstanceId', 'string', '4+', { nullable: '4+', default: null }),
        f('clientId', 'string', '0+'),
        f('clientHost', 'string', '0+'),
        f('memberMetadata', 'bytes', '0+'),
        f('memberAssignment', 'bytes', '0+'),
      )), '0+'),
      f('authorizedOperations', 'int32', '3+', { default: -2147483648 }),
    )), '0+'),
  ],
});

export type DescribeGroupsRequest = RequestOf<typeof describeGroupsApi>;
export type DescribeGroupsResponse = ResponseOf<typeof describeGroupsApi>;
export type DescribeGroupsResponseInput = ResponseInputOf<typeof describeGroupsApi>;
