// Turns whatever a role threw into the Kafka error a response carries: every
// role's error type already holds a Kafka code (BrokerError, RecordBatchError,
// PartitionError, RdmqError, KafkaError); this reads it from one place and
// never from the message text.
import { errorByCode, errorByName, KafkaError } from './protocol';

export interface KafkaErrorValue {
  code: number;
  name: string;
  message: string;
}

const UNKNOWN_SERVER_ERROR = errorByName('UNKNOWN_SERVER_ERROR');

/** The Kafka error for a thrown value; anything without a code is UNKNOWN_SERVER_ERROR. */
export function toKafkaError(err: unknown): KafkaErrorValue {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof KafkaError) return { code: err.code, name: err.entry.name, message: err.detail };
  const e = err as { kafkaErrorCode?: unknown; errorCode?: unknown } | null;
  const code =
    typeof e?.kafkaErrorCode === 'number' ? e.kafkaErrorCode : typeof e?.errorCode === 'number' ? e.errorCode : UNKNOWN_SERVER_ERROR.code;
  return { code, name: errorByCode(code).name, message };
}

/** A Kafka error by name with a message saying what was wrong. */
export function kafkaError(name: string, message?: string): KafkaErrorValue {
  const entry = errorByName(name);
  return { code: entry.code, name: entry.name, message: message ?? entry.message };
}

export const NO_ERROR: KafkaErrorValue = { code: 0, name: 'NONE', message: '' };
