// The SDK's one error type: a Kafka error code where the broker gave one, and
// `retriable` read from the code, never from the message text.
const RETRIABLE_CODES = new Set([2, 5, 6, 7, 14, 15, 16, 19, 20, 56]);
const NAMES: Record<number, string> = {
  [-1]: 'UNKNOWN_SERVER_ERROR',
  1: 'OFFSET_OUT_OF_RANGE',
  3: 'UNKNOWN_TOPIC_OR_PARTITION',
  7: 'REQUEST_TIMED_OUT',
  10: 'MESSAGE_TOO_LARGE',
  36: 'TOPIC_ALREADY_EXISTS',
  29: 'TOPIC_AUTHORIZATION_FAILED',
  30: 'GROUP_AUTHORIZATION_FAILED',
  31: 'CLUSTER_AUTHORIZATION_FAILED',
  42: 'INVALID_REQUEST',
  53: 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  56: 'KAFKA_STORAGE_ERROR',
};

export class RdmqError extends Error {
  readonly retriable: boolean;
  constructor(
    message: string,
    readonly errorCode: number = -1,
    readonly type: string = NAMES[errorCode] ?? `KAFKA_ERROR_${errorCode}`,
    retriable?: boolean,
  ) {
    super(message);
    this.name = 'RdmqError';
    this.retriable = retriable ?? RETRIABLE_CODES.has(errorCode);
  }
}

const AUTHORIZATION_CODES = new Set([29, 30, 31, 53]);

/** The broker's ACLs refused this client (its principal) the operation on the resource; retrying does not help until an ACL allows it. */
export class AuthorizationError extends RdmqError {
  constructor(
    message: string,
    errorCode: number,
    /** 'WRITE' for producers, 'READ' for consumers and groups. */
    readonly operation: string,
    /** The topic (or group) refused. */
    readonly resource: string,
  ) {
    super(message, errorCode);
    this.name = 'AuthorizationError';
  }
}

/** The error for a broker's reply: an AuthorizationError for an ACL refusal, else an RdmqError. */
export function replyError(message: string, errorCode: number, refused: { operation: string; resource: string }): RdmqError {
  return AUTHORIZATION_CODES.has(errorCode) ? new AuthorizationError(message, errorCode, refused.operation, refused.resource) : new RdmqError(message, errorCode);
}
