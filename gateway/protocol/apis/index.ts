// Every API this gateway speaks. ApiVersions advertises exactly this list.
import { alterConfigsApi } from './alterConfigs';
import { alterUserScramCredentialsApi } from './alterUserScramCredentials';
import { apiVersionsApi } from './apiVersions';
import { createAclsApi } from './createAcls';
import { createPartitionsApi } from './createPartitions';
import { createTopicsApi } from './createTopics';
import { deleteAclsApi } from './deleteAcls';
import { deleteGroupsApi } from './deleteGroups';
import { deleteRecordsApi } from './deleteRecords';
import { deleteTopicsApi } from './deleteTopics';
import { describeAclsApi } from './describeAcls';
import { describeClusterApi } from './describeCluster';
import { describeConfigsApi } from './describeConfigs';
import { describeGroupsApi } from './describeGroups';
import { describeUserScramCredentialsApi } from './describeUserScramCredentials';
import { fetchApi } from './fetch';
import { findCoordinatorApi } from './findCoordinator';
import { heartbeatApi } from './heartbeat';
import { incrementalAlterConfigsApi } from './incrementalAlterConfigs';
import { initProducerIdApi } from './initProducerId';
import { joinGroupApi } from './joinGroup';
import { leaveGroupApi } from './leaveGroup';
import { listGroupsApi } from './listGroups';
import { listOffsetsApi } from './listOffsets';
import { metadataApi } from './metadata';
import { offsetCommitApi } from './offsetCommit';
import { offsetDeleteApi } from './offsetDelete';
import { offsetFetchApi } from './offsetFetch';
import { offsetForLeaderEpochApi } from './offsetForLeaderEpoch';
import { produceApi } from './produce';
import { saslAuthenticateApi } from './saslAuthenticate';
import { saslHandshakeApi } from './saslHandshake';
import { syncGroupApi } from './syncGroup';

export const allApis = [
  alterConfigsApi,
  alterUserScramCredentialsApi,
  apiVersionsApi,
  createAclsApi,
  createPartitionsApi,
  createTopicsApi,
  deleteAclsApi,
  deleteGroupsApi,
  deleteRecordsApi,
  deleteTopicsApi,
  describeAclsApi,
  describeClusterApi,
  describeConfigsApi,
  describeGroupsApi,
  describeUserScramCredentialsApi,
  fetchApi,
  findCoordinatorApi,
  heartbeatApi,
  incrementalAlterConfigsApi,
  initProducerIdApi,
  joinGroupApi,
  leaveGroupApi,
  listGroupsApi,
  listOffsetsApi,
  metadataApi,
  offsetCommitApi,
  offsetDeleteApi,
  offsetFetchApi,
  offsetForLeaderEpochApi,
  produceApi,
  saslAuthenticateApi,
  saslHandshakeApi,
  syncGroupApi,
] as const;

export * from './alterConfigs';
export * from './alterUserScramCredentials';
export * from './apiVersions';
export * from './createAcls';
export * from './createPartitions';
export * from './createTopics';
export * from './deleteAcls';
export * from './deleteGroups';
export * from './deleteRecords';
export * from './deleteTopics';
export * from './describeAcls';
export * from './describeCluster';
export * from './describeConfigs';
export * from './describeGroups';
export * from './describeUserScramCredentials';
export * from './fetch';
export * from './findCoordinator';
export * from './heartbeat';
export * from './incrementalAlterConfigs';
export * from './initProducerId';
export * from './joinGroup';
export * from './leaveGroup';
export * from './listGroups';
export * from './listOffsets';
export * from './metadata';
export * from './offsetCommit';
export * from './offsetDelete';
export * from './offsetFetch';
export * from './offsetForLeaderEpoch';
export * from './produce';
export * from './saslAuthenticate';
export * from './saslHandshake';
export * from './syncGroup';
