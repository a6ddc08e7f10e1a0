// One error type for everything that can be wrong with record-batch bytes.
// Each code maps to the Kafka error a produce response should carry, so the
// gateway answers with a table lookup instead of string matching.

export type RecordBatchErrorCode =
  | 'CORRUPT_MESSAGE'
  | 'INVALID_RECORD'
  | 'MESSAGE_TOO_LARGE'
  | 'UNSUPPORTED_MAGIC'
  | 'UNSUPPORTED_COMPRESSION_TYPE'
  | 'TRUNCATED';

interface KafkaErrorMapping {
  kafkaErrorCode: number;
  retriable: boolean;
}

/**
 * Kafka error codes from the protocol's error table. A truncated batch is
 * reported as CORRUPT_MESSAGE (retriable) because Kafka treats a partial
 * batch in a produce request as a CorruptRecordException.
 */
export const RECORD_BATCH_ERRORS: { readonly [code in RecordBatchErrorCode]: KafkaErrorMapping } = {
  CORRUPT_MESSAGE: { kafkaErrorCode: 2, retriable: true },
  TRUNCATED: { kafkaErrorCode: 2, retriable: true },
  MESSAGE_TOO_LARGE: { kafkaErrorCode: 10, retriable: false },
  UNSUPPORTED_MAGIC: { kafkaErrorCode: 43, retriable: false },
  UNSUPPORTED_COMPRESSION_TYPE: { kafkaErrorCode: 76, retriable: false },
  INVALID_RECORD: { kafkaErrorCode: 87, retriable: false },
};

export class RecordBatchError extends Error {
  readonly code: RecordBatchErrorCode;
  readonly kafkaErrorCode: number;
  readonly retriable: boolean;

  constructor(code: RecordBatchErrorCode, message: string) {
    super(message);
    this.name = 'RecordBatchError';
    this.code = code;
    this.kafkaErrorCode = RECORD_BATCH_ERRORS[code].kafkaErrorCode;
    this.retriable = RECORD_BATCH_ERRORS[code].retriable;
  }
}
