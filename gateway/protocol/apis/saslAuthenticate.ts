// SaslAuthenticate: api key 36, v0–2, flexible from v2.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const saslAuthenticateApi = defineApi({
  apiKey: 36,
  name: 'SaslAuthenticate',
  versions: '0-2',
  flexible: '2+',
  request: [
    f('authBytes', 'bytes', '0+'),
  ],
  response: [
    f('errorCode', 'int16', '0+'),
    f('errorMessage', 'string', '0+', { nullable: '0+' }),
    f('authBytes', 'bytes', '0+'),
    f('sessionLifetimeMs', 'int64', '1+', { default: 0n }),
  ],
});

export type SaslAuthenticateRequest = RequestOf<typeof saslAuthenticateApi>;
export type SaslAuthenticateResponse = ResponseOf<typeof saslAuthenticateApi>;
export type SaslAuthenticateResponseInput = ResponseInputOf<typeof saslAuthenticateApi>;
