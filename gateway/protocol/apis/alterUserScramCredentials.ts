// AlterUserScramCredentials: api key 51, v0, flexible from v0 (KIP-554).
// The client salts and hashes the password (SaltedPassword = Hi(password,
// salt, iterations)); the broker derives and stores StoredKey and ServerKey.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const alterUserScramCredentialsApi = defineApi({
  apiKey: 51,
  name: 'AlterUserScramCredentials',
  versions: '0-0',
  flexible: '0+',
  request: [
    f('deletions', arrayOf(struct(
      f('name', 'string', '0+'),
      f('mechanism', 'int8', '0+'),
    )), '0+'),
    f('upsertions', arrayOf(struct(
      f('name', 'string', '0+'),
      f('mechanism', 'int8', '0+'),
      f('iterations', 'int32', '0+'),
      f('salt', 'bytes', '0+'),
      f('saltedPassword', 'bytes', '0+'),
    )), '0+'),
  ],
  response: [
    f('throttleTimeMs', 'int32', '0+'),
    f('results', arrayOf(struct(
      f('user', 'string', '0+'),
      f('errorCode', 'int16', '0+'),
      f('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
    )), '0+'),
  ],
});

export type AlterUserScramCredentialsRequest = RequestOf<typeof alterUserScramCredentialsApi>;
export type AlterUserScramCredentialsResponse = ResponseOf<typeof alterUserScramCredentialsApi>;
export type AlterUserScramCredentialsResponseInput = ResponseInputOf<typeof alterUserScramCredentialsApi>;
