// One handler per API the codec describes; the type makes a missing one a
// compile error, so ApiVersions never advertises an API nobody answers.
import type { ApiName, DecodedRequest, ResponseInput } from './protocol';
import { Handler, NO_RESPONSE, RequestContext } from './context';
import { apiVersions, saslAuthenticate, saslHandshake } from './handlers/api-versions';
import { alterConfigs, describeConfigs, incrementalAlterConfigs } from './handlers/configs';
import { fetch } from './handlers/fetch';
import { offsetCommit, offsetDelete, offsetFetch } from './handlers/group-offsets';
import { deleteGroups, describeGroups, findCoordinator, heartbeat, joinGroup, leaveGroup, listGroups, syncGroup } from './handlers/groups';
import { describeCluster, metadata } from './handlers/metadata';
import { deleteRecords, listOffsets, offsetForLeaderEpoch } from './handlers/offsets';
import { produce } from './handlers/produce';
import { initProducerId } from './handlers/producer-ids';
import { createPartitions, createTopics, deleteTopics } from './handlers/topics';

const handlers: { [N in ApiName]: Handler<N> } = {
  Produce: produce,
  Fetch: fetch,
  ListOffsets: listOffsets,
  Metadata: metadata,
  OffsetCommit: offsetCommit,
  OffsetFetch: offsetFetch,
  FindCoordinator: findCoordinator,
  JoinGroup: joinGroup,
  Heartbeat: heartbeat,
  LeaveGroup: leaveGroup,
  SyncGroup: syncGroup,
  DescribeGroups: describeGroups,
  ListGroups: listGroups,
  SaslHandshake: saslHandshake,
  ApiVersions: apiVersions,
  CreateTopics: createTopics,
  DeleteTopics: deleteTopics,
  DeleteRecords: deleteRecords,
  InitProducerId: initProducerId,
  OffsetForLeaderEpoch: offsetForLeaderEpoch,
  DescribeConfigs: describeConfigs,
  AlterConfigs: alterConfigs,
  SaslAuthenticate: saslAuthenticate,
  CreatePartitions: createPartitions,
  DeleteGroups: deleteGroups,
  IncrementalAlterConfigs: incrementalAlterConfigs,
  OffsetDelete: offsetDelete,
  DescribeCluster: describeCluster,
};

/** Runs the request's handler; resolves to the response body, or NO_RESPONSE. */
export async function dispatch(request: DecodedRequest, call: RequestContext): Promise<ResponseInput<ApiName> | typeof NO_RESPONSE> {
  const handler = handlers[request.apiName] as Handler<ApiName>;
  return handler(request.body as never, call);
}
