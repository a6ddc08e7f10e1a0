// The broker's public interface.
export { Broker, BrokerOptions, PartitionRuntime, partitionKey } from './broker';
export { PartitionProducers } from './producer-state';
export { EmbeddedStorage, RemoteStorage, StorageBackend } from './storage-backend';
export { ReplicatedStorage } from './replicated-storage';
export { FastPathService } from './fastpath-service';
export { startControlServer, brokerService, ClusterInfo, ERROR_METADATA_KEY, LEADER_METADATA_KEY, notLeaderError } from './control-service';
export { BrokerError, MetadataStore, TopicDescription } from './topics';
export { PartitionError } from './partition-state';
export { BrokerMetrics } from './metrics';
export { checkMetadataLog, truncateMetadataLog, MetadataSink } from './metadata-log';
export { EtcdMetadataLog, EtcdMetadataLogError, EtcdMetadataLogOptions } from './etcd-metadata-log';
export { LeaderElection, LeaderElectionOptions, LeaderRecord } from './leader-election';
export {
  batchSizeError,
  effectiveTopicConfig,
  MAX_PRODUCER_EPOCH,
  parseTopicConfigs,
  TOPIC_CONFIG_DEFAULTS,
  TopicConfig,
  TopicConfigName,
  validateTopicName,
} from './topics';
export { GroupCoordinator, GROUP_ERRORS, GroupErrorName } from './group-coordinator';
export { kafkaClusterId } from './cluster-id';
export { UserStore, UserDescription, ScramUpsertion, ScramDeletion, CredentialRecord } from './security/credentials';
export { usersServiceOf, usersService, UsersClient, UserOutcome, CachedCredentials } from './security/users-service';
export * from './security/acls';
export { aclSnapshot, createAcls, deleteAcls, listAcls } from './security/acl-store';
export { bindingFromWire as bindingFromWireAcl, filterFromWire as aclFilterFromWire } from './security/acl-control';
