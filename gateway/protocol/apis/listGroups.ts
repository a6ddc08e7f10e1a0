// ListGroups: api key 16, v0–4, flexible from v3.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const listGroupsApi = defineApi({
  apiKey: 16,
  name: 'ListGroups',
  versions: '0-4',
  flexible: '3+',
  request: [
    f('statesFilter', arrayOf('string'), '4+'),
  ],
  response: [
    f('throttleTimeMs', 'int32', '1+'),
    f('errorCode', 'int16', '0+'),
    f('groups', arrayOf(struct(
      f('groupId', 'string', '0+'),
      f('protocolType', 'string', '0+'),
      f('groupState', 'string', '4+'),
    )), '0+'),
  ],
});

export type ListGroupsRequest = RequestOf<typeof listGroupsApi>;
export type ListGroupsResponse = ResponseOf<typeof listGroupsApi>;
export type ListGroupsResponseInput = ResponseInputOf<typeof listGroupsApi>;
