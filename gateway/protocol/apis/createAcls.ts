// CreateAcls: api key 30, v0–3, flexible from v2. v1 added the pattern type
// (KIP-290); a v0 creation is LITERAL. Codes: security/acls.ts.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const createAclsApi = defineApi({
  apiKey: 30,
  name: 'CreateAcls',
  versions: '0-3',
  flexible: '2+',
  request: [
    f('creations', arrayOf(struct(
      f('resourceType', 'int8', '0+'),
      f('resourceName', 'string', '0+'),
      f('resourcePatternType', 'int8', '1+', { default: 3 }),
      f('principal', 'string', '0+'),
      f('host', 'string', '0+'),
      f('operation', 'int8', '0+'),
      f('permissionType', 'int8', '0+'),
    )), '0+'),
  ],
  response: [
    f('throttleTimeMs', 'int32', '0+'),
    f('results', arrayOf(struct(
      f('errorCode', 'int16', '0+'),
      f('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
    )), '0+'),
  ],
});

export type CreateAclsRequest = RequestOf<typeof createAclsApi>;
export type CreateAclsResponse = ResponseOf<typeof createAclsApi>;
export type CreateAclsResponseInput = ResponseInputOf<typeof createAclsApi>;
