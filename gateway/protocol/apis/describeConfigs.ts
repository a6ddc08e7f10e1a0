// DescribeConfigs: api key 32, v0–4, flexible from v4.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const describeConfigsApi = defineApi({
  apiKey: 32,
  name: 'DescribeConfigs',
  versions: '0-4',
  flexible: '4+',
  request: [
    f('resources', arrayOf(struct(
      f('resourceType', 'int8', '0+'),
      f('resourceName', 'string', '0+'),
      f('configurationKeys', arrayOf('string'), '0+', { nullable: '0+' }),
    )), '0+'),
    f('includeSynonyms', 'bool', '1+', { default: false }),
    f('includeDocumentation', 'bool', '3+', { default: false }),
  ],
  response: [
    f('throttleTimeMs', 'int32', '0+'),
    f('results', arrayOf(struct(
      f('errorCode', 'int16', '0+'),
      f('errorMessage', 'string', '0+', { nullable: '0+' }),
      f('resourceType', 'int8', '0+'),
      f('resourceName', 'string', '0+'),
      f('configs', arrayOf(struct(
        f('name', 'string', '0+'),
        f('value', 'string', '0+', { nullable: '0+' }),
        f('readOnly', 'bool', '0+'),
        f('isDefault', 'bool', '0'),
        f('configSource', 'int8', '1+', { default: -1 }),
        f('isSensitive', 'bool', '0+'),
        f('synonyms', arrayOf(struct(
          f('name', 'string', '1+'),
          f('value', 'string', '1+', { nullable: '0+' }),
          f('source', 'int8', '1+'),
        )), '1+'),
        f('configType', 'int8', '3+', { default: 0 }),
        f('documentation', 'string', '3+', { nullable: '0+' }),
      )), '0+'),
    )), '0+'),
  ],
});

export type DescribeConfigsRequest = RequestOf<typeof describeConfigsApi>;
export type DescribeConfigsResponse = ResponseOf<typeof describeConfigsApi>;
export type DescribeConfigsResponseInput = ResponseInputOf<typeof describeConfigsApi>;
