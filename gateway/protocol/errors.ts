// Kafka error codes: one table. Retry logic reads `retriable` (true where
// Kafka's client treats the error as retriable), never the message text.

export interface KafkaErrorEntry {
  readonly name: string;
  readonly code: number;
  readonly retriable: boolean;
  readonly message: string;
}

// [name, code, retriable, message]
const rows: ReadonlyArray<readonly [string, number, boolean, string]> = [
  ['UNKNOWN_SERVER_ERROR', -1, false, 'unexpected server error'],
  ['NONE', 0, false, 'no error'],
  ['OFFSET_OUT_OF_RANGE', 1, false, 'offset is outside the range held for this partition'],
  ['CORRUPT_MESSAGE', 2, true, 'record batch failed its CRC check or is otherwise malformed'],
  ['UNKNOWN_TOPIC_OR_PARTITION', 3, true, 'this broker does not host the topic-partition'],
  ['INVALID_FETCH_SIZE', 4, false, 'fetch size is invalid'],
  ['LEADER_NOT_AVAILABLE', 5, true, 'partition has no leader right now'],
  ['NOT_LEADER_OR_FOLLOWER', 6, true, 'this broker is not the leader (or a replica) of the partition'],
  ['REQUEST_TIMED_OUT', 7, true, 'request timed out'],
  ['BROKER_NOT_AVAILABLE', 8, false, 'broker is not available'],
  ['REPLICA_NOT_AVAILABLE', 9, true, 'replica is not available for the partition'],
  ['MESSAGE_TOO_LARGE', 10, false, 'record batch is larger than the server accepts'],
  ['STALE_CONTROLLER_EPOCH', 11, false, 'controller moved to another broker'],
  ['OFFSET_METADATA_TOO_LARGE', 12, false, 'offset commit metadata is too large'],
  ['NETWORK_EXCEPTION', 13, true, 'server disconnected before responding'],
  ['COORDINATOR_LOAD_IN_PROGRESS', 14, true, 'coordinator is still loading'],
  ['COORDINATOR_NOT_AVAILABLE', 15, true, 'coordinator is not available'],
  ['NOT_COORDINATOR', 16, true, 'this broker is not the coordinator'],
  ['INVALID_TOPIC_EXCEPTION', 17, false, 'topic name is invalid for this operation'],
  ['RECORD_LIST_TOO_LARGE', 18, false, 'record batch is larger than the segment size'],
  ['NOT_ENOUGH_REPLICAS', 19, true, 'fewer in-sync replicas than required'],
  ['NOT_ENOUGH_REPLICAS_AFTER_APPEND', 20, true, 'written, but to fewer in-sync replicas than required'],
  ['INVALID_REQUIRED_ACKS', 21, false, 'acks must be -1, 0 or 1'],
  ['ILLEGAL_GENERATION', 22, false, 'group generation id is not current'],
  ['INCONSISTENT_GROUP_PROTOCOL', 23, false, 'member protocols do not match the group'],
  ['INVALID_GROUP_ID', 24, false, 'group id is invalid'],
  ['UNKNOWN_MEMBER_ID', 25, false, 'coordinator does not know this member'],
  ['INVALID_SESSION_TIMEOUT', 26, false, 'session timeout is outside the allowed range'],
  ['REBALANCE_IN_PROGRESS', 27, false, 'group is rebalancing; rejoin'],
  ['INVALID_COMMIT_OFFSET_SIZE', 28, false, 'offset commit size is invalid'],
  ['TOPIC_AUTHORIZATION_FAILED', 29, false, 'not authorized for this topic'],
  ['GROUP_AUTHORIZATION_FAILED', 30, false, 'not authorized for this group'],
  ['CLUSTER_AUTHORIZATION_FAILED', 31, false, 'not authorized for this cluster operation'],
  ['INVALID_TIMESTAMP', 32, false, 'record timestamp is out of the accepted range'],
  ['UNSUPPORTED_SASL_MECHANISM', 33, false, 'SASL mechanism is not supported'],
  ['ILLEGAL_SASL_STATE', 34, false, 'request is not valid in the current SASL state'],
  ['UNSUPPORTED_VERSION', 35, false, 'API version is not supported'],
  ['TOPIC_ALREADY_EXISTS', 36, false, 'topic already exists'],
  ['INVALID_PARTITIONS', 37, false, 'partition count is invalid'],
  ['INVALID_REPLICATION_FACTOR', 38, false, 'replication factor is invalid'],
  ['INVALID_REPLICA_ASSIGNMENT', 39, false, 'replica assignment is invalid'],
  ['INVALID_CONFIG', 40, false, 'configuration is invalid'],
  ['NOT_CONTROLLER', 41, true, 'this broker is not the controller'],
  ['INVALID_REQUEST', 42, false, 'request is malformed or not valid for this broker'],
  ['UNSUPPORTED_FOR_MESSAGE_FORMAT', 43, false, 'message format does not support this request'],
  ['POLICY_VIOLATION', 44, false, 'request violates the configured policy'],
  ['OUT_OF_ORDER_SEQUENCE_NUMBER', 45, false, 'producer sequence number is out of order'],
  ['DUPLICATE_SEQUENCE_NUMBER', 46, false, 'producer sequence number is a duplicate'],
  ['INVALID_PRODUCER_EPOCH', 47, false, 'producer epoch is older than the current one'],
  ['INVALID_TXN_STATE', 48, false, 'transactional operation in an invalid state'],
  ['INVALID_PRODUCER_ID_MAPPING', 49, false, 'producer id is not assigned to this transactional id'],
  ['INVALID_TRANSACTION_TIMEOUT', 50, false, 'transaction timeout exceeds the broker maximum'],
  ['CONCURRENT_TRANSACTIONS', 51, true, 'another operation on this transaction is in progress'],
  ['TRANSACTION_COORDINATOR_FENCED', 52, false, 'transaction coordinator is no longer current'],
  ['TRANSACTIONAL_ID_AUTHORIZATION_FAILED', 53, false, 'not authorized for this transactional id'],
  ['SECURITY_DISABLED', 54, false, 'security features are disabled'],
  ['OPERATION_NOT_ATTEMPTED', 55, false, 'operation was not attempted because another in the batch failed'],
  ['KAFKA_STORAGE_ERROR', 56, true, 'storage error while accessing the log'],
  ['LOG_DIR_NOT_FOUND', 57, false, 'log directory not found'],
  ['SASL_AUTHENTICATION_FAILED', 58, false, 'SASL authentication failed'],
  ['UNKNOWN_PRODUCER_ID', 59, false, 'broker has no state for this producer id'],
  ['REASSIGNMENT_IN_PROGRESS', 60, false, 'partition reassignment in progress'],
  ['DELEGATION_TOKEN_AUTH_DISABLED', 61, false, 'delegation tokens are disabled'],
  ['DELEGATION_TOKEN_NOT_FOUND', 62, false, 'delegation token not found'],
  ['DELEGATION_TOKEN_OWNER_MISMATCH', 63, false, 'principal is not the token owner or renewer'],
  ['DELEGATION_TOKEN_REQUEST_NOT_ALLOWED', 64, false, 'delegation token requests not allowed on this channel'],
  ['DELEGATION_TOKEN_AUTHORIZATION_FAILED', 65, false, 'delegation token authorization failed'],
  ['DELEGATION_TOKEN_EXPIRED', 66, false, 'delegation token expired'],
  ['INVALID_PRINCIPAL_TYPE', 67, false, 'principal type is not supported'],
  ['NON_EMPTY_GROUP', 68, false, 'group still has members'],
  ['GROUP_ID_NOT_FOUND', 69, false, 'group does not exist'],
  ['FETCH_SESSION_ID_NOT_FOUND', 70, true, 'fetch session not found'],
  ['INVALID_FETCH_SESSION_EPOCH', 71, true, 'fetch session epoch is invalid'],
  ['LISTENER_NOT_FOUND', 72, true, 'leader has no listener matching this one'],
  ['TOPIC_DELETION_DISABLED', 73, false, 'topic deletion is disabled'],
  ['FENCED_LEADER_EPOCH', 74, true, 'leader epoch in the request is older than the broker\'s'],
  ['UNKNOWN_LEADER_EPOCH', 75, true, 'leader epoch in the request is newer than the broker\'s'],
  ['UNSUPPORTED_COMPRESSION_TYPE', 76, false, 'client does not support the topic\'s compression type'],
  ['STALE_BROKER_EPOCH', 77, false, 'broker epoch has changed'],
  ['OFFSET_NOT_AVAILABLE', 78, true, 'offset not available until the high watermark catches up'],
  ['MEMBER_ID_REQUIRED', 79, false, 'member must rejoin with the member id it was given'],
  ['PREFERRED_LEADER_NOT_AVAILABLE', 80, true, 'preferred leader not available'],
  ['GROUP_MAX_SIZE_REACHED', 81, false, 'group has reached its maximum size'],
  ['FENCED_INSTANCE_ID', 82, false, 'another member registered this group instance id'],
  ['ELIGIBLE_LEADERS_NOT_AVAILABLE', 83, true, 'no eligible leader for the partition'],
  ['ELECTION_NOT_NEEDED', 84, true, 'leader election not needed'],
  ['NO_REASSIGNMENT_IN_PROGRESS', 85, false, 'no partition reassignment in progress'],
  ['GROUP_SUBSCRIBED_TO_TOPIC', 86, false, 'group is subscribed to the topic whose offsets would be deleted'],
  ['INVALID_RECORD', 87, false, 'record failed broker validation'],
  ['UNSTABLE_OFFSET_COMMIT', 88, true, 'pending transactional offsets must settle first'],
  ['THROTTLING_QUOTA_EXCEEDED', 89, true, 'throttling quota exceeded'],
  ['PRODUCER_FENCED', 90, false, 'a newer producer with this transactional id exists'],
  ['RESOURCE_NOT_FOUND', 91, false, 'resource does not exist'],
  ['DUPLICATE_RESOURCE', 92, false, 'resource named twice in one request'],
  ['UNACCEPTABLE_CREDENTIAL', 93, false, 'credential does not meet the acceptance criteria'],
  ['INCONSISTENT_VOTER_SET', 94, false, 'sender or receiver is not an expected voter'],
  ['INVALID_UPDATE_VERSION', 95, false, 'update version is invalid'],
  ['FEATURE_UPDATE_FAILED', 96, false, 'finalized feature update failed'],
  ['PRINCIPAL_DESERIALIZATION_FAILURE', 97, false, 'request principal could not be deserialized'],
  ['SNAPSHOT_NOT_FOUND', 98, false, 'snapshot not found'],
  ['POSITION_OUT_OF_RANGE', 99, false, 'snapshot position out of range'],
  ['UNKNOWN_TOPIC_ID', 100, true, 'this broker does not host the topic id'],
  ['DUPLICATE_BROKER_REGISTRATION', 101, false, 'broker id already in use'],
  ['BROKER_ID_NOT_REGISTERED', 102, false, 'broker id not registered'],
  ['INCONSISTENT_TOPIC_ID', 103, true, 'topic id does not match the log'],
  ['INCONSISTENT_CLUSTER_ID', 104, false, 'cluster id does not match'],
  ['TRANSACTIONAL_ID_NOT_FOUND', 105, false, 'transactional id not found'],
  ['FETCH_SESSION_TOPIC_ID_ERROR', 106, true, 'fetch session used topic ids inconsistently'],
  ['INELIGIBLE_REPLICA', 107, false, 'new ISR contains an ineligible replica'],
  ['NEW_LEADER_ELECTED', 108, false, 'partition state updated but the leader changed'],
  ['OFFSET_MOVED_TO_TIERED_STORAGE', 109, false, 'offset moved to tiered storage'],
  ['FENCED_MEMBER_EPOCH', 110, false, 'member epoch fenced; rejoin'],
];

export const kafkaErrors: ReadonlyArray<KafkaErrorEntry> = rows.map(([name, code, retriable, message]) =>
  Object.freeze({ name, code, retriable, message }),
);

const byName = new Map(kafkaErrors.map((e) => [e.name, e]));
const byCode = new Map(kafkaErrors.map((e) => [e.code, e]));

/** The entry for a name from the table; an unknown name is a programming error. */
export function errorByName(name: string): KafkaErrorEntry {
  const entry = byName.get(name);
  if (!entry) throw new Error(`unknown Kafka error name ${name}`);
  return entry;
}

/** The entry for a wire code; codes this table lacks map to UNKNOWN_SERVER_ERROR's shape with that code. */
export function errorByCode(code: number): KafkaErrorEntry {
  return byCode.get(code) ?? { name: `UNKNOWN_CODE_${code}`, code, retriable: false, message: `unknown error code ${code}` };
}

/** Wire code for a name, e.g. errorCode('NOT_COORDINATOR') === 16. */
export function errorCode(name: string): number {
  return errorByName(name).code;
}

/** An error a handler can throw or return; it carries the Kafka table entry. */
export class KafkaError extends Error {
  readonly entry: KafkaErrorEntry;
  /** What went wrong in this instance, without the error name. */
  readonly detail: string;

  constructor(name: string, detail?: string) {
    const entry = errorByName(name);
    super(detail ? `${entry.name}: ${detail}` : `${entry.name}: ${entry.message}`);
    this.name = 'KafkaError';
    this.entry = entry;
    this.detail = detail ?? entry.message;
  }

  get code(): number {
    return this.entry.code;
  }

  get retriable(): boolean {
    return this.entry.retriable;
  }
}

/**
 * A request (or response) the codec cannot read: malformed bytes, or an API
 * key/version this gateway does not implement. `correlationId` is set when
 * the header was readable, so a server can still answer like Kafka does.
 */
export class ProtocolError extends KafkaError {
  readonly correlationId: number | null;
  readonly apiKey: number | null;
  readonly apiVersion: number | null;

  constructor(
    name: 'INVALID_REQUEST' | 'UNSUPPORTED_VERSION' | 'CORRUPT_MESSAGE',
    detail: string,
    header: { correlationId?: number; apiKey?: number; apiVersion?: number } = {},
  ) {
    super(name, detail);
    this.name = 'ProtocolError';
    this.correlationId = header.correlationId ?? null;
    this.apiKey = header.apiKey ?? null;
    this.apiVersion = header.apiVersion ?? null;
  }
}
