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
  42: 'INVALID_REQUEST',
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
