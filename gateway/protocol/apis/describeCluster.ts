// DescribeCluster: api key 60, v0–1, flexible from v0. v1 (KIP-919) asks for
// brokers (endpoint type 1) or controllers (2); rdmq's gateways are both.
import { defineApi, f, arrayOf, struct, RequestOf, ResponseOf, ResponseInputOf } from '../schema';

export const describeClusterApi = defineApi({
  apiKey: 60,
  name: 'DescribeCluster',
  versions: '0-1',
  flexible: '0+',
  request: [
    f('includeClusterAuthorizedOperations', 'bool', '0+'),
    f('endpointType', 'int8', '1+', { default: 1 }),
  ],
  response: [
    f('throttleTimeMs', 'int32', '0+'),
    f('errorCode', 'int16', '0+'),
    f('errorMessage', 'string', '0+', { nullable: '0+', default: null }),
    f('endpointType', 'int8', '1+', { default: 1 }),
    f('clusterId', 'string', '0+'),
    f('controllerId', 'int32', '0+', { default: -1 }),
    f('brokers', arrayOf(struct(
      f('brokerId', 'int32', '0+'),
      f('host', 'string', '0+'),
      f('port', 'int32', '0+'),
      f('rack', 'string', '0+', { nullable: '0+', default: null }),
    )), '0+'),
    f('clusterAuthorizedOperations', 'int32', '0+', { default: -2147483648 }),
  ],
});

export type DescribeClusterRequest = RequestOf<typeof describeClusterApi>;
export type DescribeClusterResponse = ResponseOf<typeof describeClusterApi>;
export type DescribeClusterResponseInput = ResponseInputOf<typeof describeClusterApi>;
