// One error type for the storage node. `code` is stable and switchable; retry
// logic reads `retriable`, never the message. The message says what was wrong
// and what is allowed.

export type StorageErrorCode =
  | 'STORAGE_FULL'
  | 'UNKNOWN_SEGMENT'
  | 'INVALID_ARGUMENT'
  | 'INVALID_POSITION'
  | 'INVALID_STATE'
  | 'INVALID_BATCH'
  | 'LAYOUT_MISMATCH'
  | 'CORRUPT_REGION'
  | 'UNSUPPORTED_VERSION'
  | 'CLOSED'
  | 'UNAVAILABLE'
  | 'FENCED'
  | 'GRANT_INVALID'
  | 'ACCESS_DENIED'
  | 'GRANT_REVOKED'
  | 'INTERNAL';

interface ErrorTraits {
  retriable: boolean;
  kafkaErrorName?: string;
  kafkaErrorCode?: number;
}

const STORAGE_ERRORS: Record<StorageErrorCode, ErrorTraits> = {
  // Retention frees segments; the broker retries the allocation after it runs.
  STORAGE_FULL: { retriable: true, kafkaErrorName: 'KAFKA_STORAGE_ERROR', kafkaErrorCode: 56 },
  UNKNOWN_SEGMENT: { retriable: false },
  INVALID_ARGUMENT: { retriable: false, kafkaErrorName: 'INVALID_REQUEST', kafkaErrorCode: 42 },
  INVALID_POSITION: { retriable: false },
  INVALID_STATE: { retriable: false },
  INVALID_BATCH: { retriable: false, kafkaErrorName: 'CORRUPT_MESSAGE', kafkaErrorCode: 2 },
  LAYOUT_MISMATCH: { retriable: false },
  CORRUPT_REGION: { retriable: false, kafkaErrorName: 'KAFKA_STORAGE_ERROR', kafkaErrorCode: 56 },
  UNSUPPORTED_VERSION: { retriable: false },
  CLOSED: { retriable: false },
  // The storage node's process is unreachable (gRPC transport): try again.
  UNAVAILABLE: { retriable: true, kafkaErrorName: 'KAFKA_STORAGE_ERROR', kafkaErrorCode: 56 },
  // A broker whose leadership epoch is older than one the node has seen: it was deposed. Clients retry at the new leader.
  FENCED: { retriable: true, kafkaErrorName: 'NOT_LEADER_OR_FOLLOWER', kafkaErrorCode: 6 },
  // Fast-path grants (grant.ts). A grant the node cannot verify was forged or altered, or is from before the node's restart: stage or subscribe again for a fresh one.
  GRANT_INVALID: { retriable: true, kafkaErrorName: 'KAFKA_STORAGE_ERROR', kafkaErrorCode: 56 },
  // Outside what the grant allows (a write with a read grant, bytes beyond its bounds, another segment): never retried.
  ACCESS_DENIED: { retriable: false, kafkaErrorName: 'TOPIC_AUTHORIZATION_FAILED', kafkaErrorCode: 29 },
  // The broker took back what the grant allowed (segment freed, sealed, committed over, or a stage skipped): stage again.
  GRANT_REVOKED: { retriable: true, kafkaErrorName: 'KAFKA_STORAGE_ERROR', kafkaErrorCode: 56 },
  INTERNAL: { retriable: false, kafkaErrorName: 'UNKNOWN_SERVER_ERROR', kafkaErrorCode: -1 },
};

export const STORAGE_ERROR_CODES = Object.keys(STORAGE_ERRORS) as StorageErrorCode[];

export function isStorageErrorCode(code: unknown): code is StorageErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(STORAGE_ERRORS, code);
}

export class StorageError extends Error {
  readonly retriable: boolean;
  readonly kafkaErrorName?: string;
  readonly kafkaErrorCode?: number;
  constructor(
    readonly code: StorageErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'StorageError';
    const traits = STORAGE_ERRORS[code];
    this.retriable = traits.retriable;
    this.kafkaErrorName = traits.kafkaErrorName;
    this.kafkaErrorCode = traits.kafkaErrorCode;
  }
}
