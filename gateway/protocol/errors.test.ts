import { errorByCode, errorByName, errorCode, KafkaError, kafkaErrors } from './index';

describe('the Kafka error table', () => {
  test('names and codes are unique', () => {
    expect(new Set(kafkaErrors.map((e) => e.name)).size).toBe(kafkaErrors.length);
    expect(new Set(kafkaErrors.map((e) => e.code)).size).toBe(kafkaErrors.length);
  });

  test('well-known codes match Kafka', () => {
    const expected: Record<string, number> = {
      UNKNOWN_SERVER_ERROR: -1, NONE: 0, OFFSET_OUT_OF_RANGE: 1, CORRUPT_MESSAGE: 2, UNKNOWN_TOPIC_OR_PARTITION: 3,
      NOT_LEADER_OR_FOLLOWER: 6, MESSAGE_TOO_LARGE: 10, NOT_COORDINATOR: 16, REBALANCE_IN_PROGRESS: 27,
      UNSUPPORTED_VERSION: 35, TOPIC_ALREADY_EXISTS: 36, INVALID_REQUEST: 42, INVALID_PRODUCER_EPOCH: 47,
      INVALID_PRODUCER_ID_MAPPING: 49, NON_EMPTY_GROUP: 68, GROUP_ID_NOT_FOUND: 69, TOPIC_DELETION_DISABLED: 73,
      FENCED_LEADER_EPOCH: 74, UNKNOWN_LEADER_EPOCH: 75, STALE_BROKER_EPOCH: 77, OFFSET_NOT_AVAILABLE: 78,
      MEMBER_ID_REQUIRED: 79, FENCED_INSTANCE_ID: 82, GROUP_SUBSCRIBED_TO_TOPIC: 86, INVALID_RECORD: 87,
      PRODUCER_FENCED: 90, UNKNOWN_TOPIC_ID: 100,
    };
    for (const [name, code] of Object.entries(expected)) expect([name, errorCode(name)]).toEqual([name, code]);
  });

  test('retriable follows the Java client: metadata and coordinator churn retry, misuse does not', () => {
    for (const name of ['NOT_LEADER_OR_FOLLOWER', 'LEADER_NOT_AVAILABLE', 'COORDINATOR_LOAD_IN_PROGRESS', 'NOT_COORDINATOR', 'REQUEST_TIMED_OUT', 'UNKNOWN_TOPIC_OR_PARTITION']) {
      expect([name, errorByName(name).retriable]).toEqual([name, true]);
    }
    for (const name of ['NONE', 'INVALID_REQUEST', 'UNSUPPORTED_VERSION', 'TOPIC_AUTHORIZATION_FAILED', 'MESSAGE_TOO_LARGE']) {
      expect([name, errorByName(name).retriable]).toEqual([name, false]);
    }
  });

  test('a KafkaError carries its table entry and says what went wrong', () => {
    const e = new KafkaError('MESSAGE_TOO_LARGE', 'batch of 9 MiB exceeds segment size 8 MiB');
    expect(e).toBeInstanceOf(Error);
    expect(e.entry).toBe(errorByName('MESSAGE_TOO_LARGE'));
    expect(e.code).toBe(10);
    expect(e.retriable).toBe(false);
    expect(e.message).toBe('MESSAGE_TOO_LARGE: batch of 9 MiB exceeds segment size 8 MiB');
  });

  test('an unknown code still maps to an entry, and an unknown name is a bug', () => {
    expect(errorByCode(9999)).toMatchObject({ code: 9999, retriable: false });
    expect(() => errorByName('NO_SUCH_ERROR')).toThrow();
  });
});
