// DescribeAcls: api key 29, v0–3, flexible from v2. One filter; null names
// match any. v1 added the pattern type filter (v0: LITERAL).
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const describeAclsApi = defineApi({
  apiKey: 29,
  name: 'DescribeAcls',
  versions: '0-3',
  flexible: '2+',
  request: [
    f('resourceTypeFilter', 'int8', '0+'),
    f('resourceNameFilter', 'string', '0+', { nullable: '0+' }),
    f('patternTypeFilter', 'int8', '1+', { default: 3 }),
    f('principalFilter', 'string', '0+', { nullable: '0+' }),
    f('hostFilter', 'string', '0+', { nullable: '0+' }),
    f('operation', 'int8', '0+'),
    f('permissionType', 'int8', '0+'),
  ],
  response: [
    f('throttleTimeMs', 'int32', '0+'),
    f('errorCode', 'int16', '0+'),
    f('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
    f('resources', arrayOf(struct(
      f('resourceType', 'int8', '0+'),
      f('resourceName', 'string', '0+'),
      f('patternType', 'int8', '1+', { default: 3 }),
      f('acls', arrayOf(struct(
        f('principal', 'string', '0+'),
        f('host', 'string', '0+'),
        f('operation', 'int8', '0+'),
        f('permissionType', 'int8', '0+'),
      )), '0+'),
    )), '0+'),
  ],
});

export type DescribeAclsRequest = RequestOf<typeof describeAclsApi>;
export type DescribeAclsResponse = ResponseOf<typeof describeAclsApi>;
export type DescribeAclsResponseInput = ResponseInputOf<typeof describeAclsApi>;
