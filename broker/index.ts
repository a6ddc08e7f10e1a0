// The broker's public interface.
export { Broker, BrokerOptions, PartitionRuntime, partitionKey } from './broker';
export { EmbeddedStorage, RemoteStorage, StorageBackend } from './storage-backend';
export { FastPathService } from './fastpath-service';
export { startControlServer, brokerService, ClusterInfo, ERROR_METADATA_KEY } from './control-service';
export { BrokerError, MetadataStore, TopicDescription } from './topics';
export { PartitionError } from './partition-state';
export { BrokerMetrics } from './metrics';
