// The storage node's public interface. Other roles import from here only.
export {
  SegmentStore,
  SegmentStoreOptions,
  AllocateRequest,
  SegmentDescriptor,
  SegmentStateName,
  CommitRequest,
  Durability,
  StorageFaults,
  StorageLogger,
  StorageUsage,
  RecoveryReport,
  FencedRange,
  HeaderWriteReason,
} from './segment-store';
export { StorageError, StorageErrorCode } from './storage-error';
export { startStorageGrpcServer, StorageGrpcServer, StorageGrpcServerOptions } from './grpc-server';
export { StorageClient, StorageClientOptions } from './grpc-client';
export { applyCommitStep, RangeCheck, COMMIT_ENTRIES_PER_MESSAGE_MAX, steppedSegment } from './commit-channel';
export { STORAGE_PROTO_PATH } from './grpc-wire';
export { LeaderEpochFence, LEADER_EPOCH_METADATA_KEY } from './leader-epoch';
export { SEGMENT_SIZE_BYTES_DEFAULT, SEGMENT_SIZE_BYTES_MIN, SEGMENT_SIZE_BYTES_MAX, REGION_SIZE_BYTES_DEFAULT, SEGMENT_HEADER_PAGE_BYTES, SLOT_SIZE_BYTES } from './layout';
export { StorageNode, SegmentAccess, StorageNodeOptions } from './storage-node';
export { checkStoredBatches, ExpectedBatches } from './batch-check';
export { registerStorageMetrics, registerFastPathMetrics, registerInProcessDataMetrics, registerScrubMetrics } from './metrics';
export { Scrubber, ScrubberOptions, ScrubberStats } from './scrubber';
export { startDataService, DataService } from './data-service';
export { GrantSigner, Grant, GrantAccess, GRANT_BYTES, VerifiedGrants } from './grant';
export { FastPathMode } from './verbs-registrations';
