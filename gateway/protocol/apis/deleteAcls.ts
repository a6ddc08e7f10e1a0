// DeleteAcls: api key 31, v0–3, flexible from v2. Each filter reports the
// bindings it deleted. v1 added the pattern type (v0: LITERAL).
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const deleteAclsApi = defineApi({
  apiKey: 31,
  name: 'DeleteAcls',
  versions: '0-3',
  flexible: '2+',
  request: [
    f('filters', arrayOf(struct(
      f('resourceTypeFilter', 'int8', '0+'),
      f('resourceNameFilter', 'string', '0+', { nullable: '0+' }),
      f('patternTypeFilter', 'int8', '1+', { default: 3 }),
      f('principalFilter', 'string', '0+', { nullable: '0+' }),
      f('hostFilter', 'string', '0+', { nullable: '0+' }),
      f('operation', 'int8', '0+'),
      f('permissionType', 'int8', '0+'),
    )), '0+'),
  ],
  response: [
    f('throttleTimeMs', 'int32', '0+'),
    f('filterResults', arrayOf(struct(
      f('errorCode', 'int16', '0+'),
      f('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
      f('matchingAcls', arrayOf(struct(
        f('errorCode', 'int16', '0+'),
        f('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
        f('resourceType', 'int8', '0+'),
        f('resourceName', 'string', '0+'),
        f('patternType', 'int8', '1+', { default: 3 }),
        f('principal', 'string', '0+'),
        f('host', 'string', '0+'),
        f('operation', 'int8', '0+'),
        f('permissionType', 'int8', '0+'),
      )), '0+'),
    )), '0+'),
  ],
});

export type DeleteAclsRequest = RequestOf<typeof deleteAclsApi>;
export type DeleteAclsResponse = ResponseOf<typeof deleteAclsApi>;
export type DeleteAclsResponseInput = ResponseInputOf<typeof deleteAclsApi>;
