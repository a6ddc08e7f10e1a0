// The SDK for ESM importers (`import { Rdmq } from 'rdmq'`): the CommonJS build
// re-exported by name, so both module systems share one instance of each class.
// package.json's "exports" points "import" here; keep the names in step with
// index.ts (rdma-client/package.test.ts checks they match).
import sdk from '../dist/rdma-client/index.js';

export const { Admin, AuthorizationError, Connection, Consumer, GroupConsumer, PartitionFetcher, PartitionView, Producer, Rdmq, RdmqError, murmur2, parseControlAddresses } = sdk;
export default sdk;
