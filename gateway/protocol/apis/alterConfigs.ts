// AlterConfigs: api key 33, v0–2, flexible from v2.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const alterConfigsApi = defineApi({
  apiKey: 33,
  name: 'AlterConfigs',
  versions: '0-2',
  flexible: '2+',
  request: [
    f('resources', arrayOf(struct(
      f('resourceType', 'int8', '0+'),
      f('resourceName', 'string', '0+'),
      f('configs', arrayOf(struct(
        f('name', 'string', '0+'),
        f('value', 'string', '0+', { nullable: '0+' }),
      )), '0+'),
    )), '0+'),
    f('validateOnly', 'bool', '0+'),
  ],
  response: [
    f('throttleTimeMs', 'int32', '0+'),
    f('responses', arrayOf(struct(
      f('errorCode', 'int16', '0+'),
      f('errorMessage', 'string', '0+', { nullable: '0+' }),
      f('resourceType', 'int8', '0+'),
      f('resourceName', 'string', '0+'),
    )), '0+'),
  ],
});

export type AlterConfigsRequest = RequestOf<typeof alterConfigsApi>;
export type AlterConfigsResponse = ResponseOf<typeof alterConfigsApi>;
export type AlterConfigsResponseInput = ResponseInputOf<typeof alterConfigsApi>;
