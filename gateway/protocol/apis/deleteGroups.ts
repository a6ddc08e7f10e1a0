// DeleteGroups: api key 42, v0–2, flexible from v2.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const deleteGroupsApi = defineApi({
  apiKey: 42,
  name: 'DeleteGroups',
  versions: '0-2',
  flexible: '2+',
  request: [
    f('groupsNames', arrayOf('string'), '0+'),
  ],
  response: [
    f('throttleTimeMs', 'int32', '0+'),
    f('results', arrayOf(struct(
      f('groupId', 'string', '0+'),
      f('errorCode', 'int16', '0+'),
    )), '0+'),
  ],
});

export type DeleteGroupsRequest = RequestOf<typeof deleteGroupsApi>;
export type DeleteGroupsResponse = ResponseOf<typeof deleteGroupsApi>;
export type DeleteGroupsResponseInput = ResponseInputOf<typeof deleteGroupsApi>;
