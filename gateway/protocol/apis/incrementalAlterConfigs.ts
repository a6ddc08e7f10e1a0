// IncrementalAlterConfigs: api key 44, v0–1, flexible from v1.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const incrementalAlterConfigsApi = defineApi({
  apiKey: 44,
  name: 'IncrementalAlterConfigs',
  versions: '0-1',
  flexible: '1+',
  request: [
    f('resources', arrayOf(struct(
      f('resourceType', 'int8', '0+'),
      f('resourceName', 'string', '0+'),
      f('configs', arrayOf(struct(
        f('name', 'string', '0+'),
        f('configOperation', 'int8', '0+'),
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

export type IncrementalAlterConfigsRequest = RequestOf<typeof incrementalAlterConfigsApi>;
export type IncrementalAlterConfigsResponse = ResponseOf<typeof incrementalAlterConfigsApi>;
export type IncrementalAlterConfigsResponseInput = ResponseInputOf<typeof incrementalAlterConfigsApi>;
