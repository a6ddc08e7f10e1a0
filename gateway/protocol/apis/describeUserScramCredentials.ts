// DescribeUserScramCredentials: api key 50, v0, flexible from v0 (KIP-554).
// Users null: every user. Mechanism: 1 SCRAM-SHA-256, 2 SCRAM-SHA-512.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const describeUserScramCredentialsApi = defineApi({
  apiKey: 50,
  name: 'DescribeUserScramCredentials',
  versions: '0-0',
  flexible: '0+',
  request: [
    f('users', arrayOf(struct(
      f('name', 'string', '0+'),
    )), '0+', { nullable: '0+' }),
  ],
  response: [
    f('throttleTimeMs', 'int32', '0+'),
    f('errorCode', 'int16', '0+'),
    f('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
    f('results', arrayOf(struct(
      f('user', 'string', '0+'),
      f('errorCode', 'int16', '0+'),
      f('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
      f('credentialInfos', arrayOf(struct(
        f('mechanism', 'int8', '0+'),
        f('iterations', 'int32', '0+'),
      )), '0+'),
    )), '0+'),
  ],
});

export type DescribeUserScramCredentialsRequest = RequestOf<typeof describeUserScramCredentialsApi>;
export type DescribeUserScramCredentialsResponse = ResponseOf<typeof describeUserScramCredentialsApi>;
export type DescribeUserScramCredentialsResponseInput = ResponseInputOf<typeof describeUserScramCredentialsApi>;
