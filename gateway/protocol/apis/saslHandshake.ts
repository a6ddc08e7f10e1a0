// SaslHandshake: api key 17, v0–1, never flexible.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const saslHandshakeApi = defineApi({
  apiKey: 17,
  name: 'SaslHandshake',
  versions: '0-1',
  flexible: 'none',
  request: [
    f('mechanism', 'string', '0+'),
  ],
  response: [
    f('errorCode', 'int16', '0+'),
    f('mechanisms', arrayOf('string'), '0+'),
  ],
});

export type SaslHandshakeRequest = RequestOf<typeof saslHandshakeApi>;
export type SaslHandshakeResponse = ResponseOf<typeof saslHandshakeApi>;
export type SaslHandshakeResponseInput = ResponseInputOf<typeof saslHandshakeApi>;
