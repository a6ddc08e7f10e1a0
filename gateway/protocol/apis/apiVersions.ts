// ApiVersions: api key 18, v0–3, flexible from v3.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const apiVersionsApi = defineApi({
  apiKey: 18,
  name: 'ApiVersions',
  versions: '0-3',
  flexible: '3+',
  request: [
    f('clientSoftwareName', 'string', '3+'),
    f('clientSoftwareVersion', 'string', '3+'),
  ],
  response: [
    f('errorCode', 'int16', '0+'),
    f('apiKeys', arrayOf(struct(
      f('apiKey', 'int16', '0+'),
      f('minVersion', 'int16', '0+'),
      f('maxVersion', 'int16', '0+'),
    )), '0+'),
    f('throttleTimeMs', 'int32', '1+'),
    f('supportedFeatures', arrayOf(struct(
      f('name', 'string', '3+'),
      f('minVersion', 'int16', '3+'),
      f('maxVersion', 'int16', '3+'),
    )), '3+', { tag: 0, tagged: '3+' }),
    f('finalizedFeaturesEpoch', 'int64', '3+', { tag: 1, tagged: '3+', default: -1n }),
    f('finalizedFeatures', arrayOf(struct(
      f('name', 'string', '3+'),
      f('maxVersionLevel', 'int16', '3+'),
      f('minVersionLevel', 'int16', '3+'),
    )), '3+', { tag: 2, tagged: '3+' }),
    f('zkMigrationReady', 'bool', '3+', { tag: 3, tagged: '3+', default: false }),
  ],
});

export type ApiVersionsRequest = RequestOf<typeof apiVersionsApi>;
export type ApiVersionsResponse = ResponseOf<typeof apiVersionsApi>;
export type ApiVersionsResponseInput = ResponseInputOf<typeof apiVersionsApi>;
