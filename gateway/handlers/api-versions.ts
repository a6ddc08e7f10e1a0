// ApiVersions: exactly what the codec describes, nothing more. SaslHandshake
// and SaslAuthenticate answer that no mechanism is enabled.
import { errorCode, supportedApiVersions } from '../protocol';
import { DataContext, Handler } from '../context';

export function apiVersionsBody(error = 0) {
  return {
    errorCode: error,
    apiKeys: supportedApiVersions.map((v) => ({ apiKey: v.apiKey, minVersion: v.minVersion, maxVersion: v.maxVersion })),
    throttleTimeMs: 0,
  };
}

export const apiVersions: Handler<'ApiVersions', DataContext> = () => apiVersionsBody();

export const saslHandshake: Handler<'SaslHandshake', DataContext> = () => ({
  errorCode: errorCode('UNSUPPORTED_SASL_MECHANISM'),
  mechanisms: [],
});

export const saslAuthenticate: Handler<'SaslAuthenticate', DataContext> = () => ({
  errorCode: errorCode('ILLEGAL_SASL_STATE'),
  errorMessage: 'SASL is not enabled on this gateway',
  authBytes: Buffer.alloc(0),
});
