// DescribeUserScramCredentials and AlterUserScramCredentials (KIP-554): the
// broker's users (broker/security/credentials.ts) through the Kafka door.
// Who may call them is the authorizer's decision (ALTER/DESCRIBE on CLUSTER).
import { BrokerError } from '../../broker';
import { SCRAM_MECHANISM_TYPES, scramMechanismOfType, ScramMechanism } from '../../format/sasl';
import { Handler } from '../context';
import { kafkaError, toKafkaError } from '../errors';

export const describeUserScramCredentials: Handler<'DescribeUserScramCredentials'> = (body, call) => {
  const names = body.users?.map((u) => u.name);
  if (names && new Set(names).size !== names.length) {
    const dup = kafkaError('DUPLICATE_RESOURCE', 'a user is named twice in one request');
    return { throttleTimeMs: 0, errorCode: 0, errorMessage: null, results: [...new Set(names)].map((user) => ({ user, errorCode: dup.code, errorMessage: dup.message, credentialInfos: [] })) };
  }
  const results = call.gateway.broker.users.describe(names && names.length > 0 ? names : undefined).map((r) => ({
    user: r.user,
    errorCode: r.error ? r.error.kafkaErrorCode : 0,
    errorMessage: r.error?.message ?? null,
    credentialInfos: (r.description?.credentials ?? []).map((c) => ({ mechanism: SCRAM_MECHANISM_TYPES[c.mechanism], iterations: c.iterations })),
  }));
  return { throttleTimeMs: 0, errorCode: 0, errorMessage: null, results };
};

export const alterUserScramCredentials: Handler<'AlterUserScramCredentials'> = async (body, call) => {
  const unknownMechanism = new Map<string, BrokerError>();
  const mechanismOf = (user: string, type: number): ScramMechanism => {
    const m = scramMechanismOfType(type);
    if (!m) unknownMechanism.set(user, new BrokerError('UNSUPPORTED_SASL_MECHANISM', `unknown SCRAM mechanism ${type}; allowed: 1 (SCRAM-SHA-256), 2 (SCRAM-SHA-512)`));
    return m ?? 'SCRAM-SHA-256';
  };
  const deletions = body.deletions.map((d) => ({ user: d.name, mechanism: mechanismOf(d.name, d.mechanism) }));
  const upsertions = body.upsertions.map((u) => ({ user: u.name, mechanism: mechanismOf(u.name, u.mechanism), iterations: u.iterations, salt: u.salt, saltedPassword: u.saltedPassword }));
  const valid = (c: { user: string }) => !unknownMechanism.has(c.user);
  let altered: { user: string; error: BrokerError | null }[];
  try {
    altered = await call.gateway.broker.users.alter(upsertions.filter(valid), deletions.filter(valid));
  } catch (err) {
    const e = toKafkaError(err);
    const users = [...new Set([...deletions, ...upsertions].map((c) => c.user))];
    return { throttleTimeMs: 0, results: users.map((user) => ({ user, errorCode: e.code, errorMessage: e.message })) };
  }
  const results = [
    ...altered.map((r) => ({ user: r.user, errorCode: r.error ? r.error.kafkaErrorCode : 0, errorMessage: r.error?.message ?? null })),
    ...[...unknownMechanism].map(([user, e]) => ({ user, errorCode: e.kafkaErrorCode, errorMessage: e.message })),
  ];
  return { throttleTimeMs: 0, results };
};
