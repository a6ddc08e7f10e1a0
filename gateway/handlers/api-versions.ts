// ApiVersions: exactly what the codec describes, nothing more.
import { supportedApiVersions } from '../protocol';
import { DataContext, Handler } from '../context';

export function apiVersionsBody(error = 0) {
  return {
    errorCode: error,
    apiKeys: supportedApiVersions.map((v) => ({ apiKey: v.apiKey, minVersion: v.minVersion, maxVersion: v.maxVersion })),
    throttleTimeMs: 0,
  };
}

export const apiVersions: Handler<'ApiVersions', DataContext> = () => apiVersionsBody();
