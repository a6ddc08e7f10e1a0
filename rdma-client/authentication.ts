// The SDK's side of fast-path authentication: a SASL exchange (PLAIN,
// SCRAM-SHA-256/512, the users of the Kafka door) with the broker, on each
// new broker endpoint before anything else is sent. Names follow kafkajs:
//
//   new Rdmq({ control, sasl: { mechanism: 'scram-sha-256', username: 'alice', password: '...' } })
import { AuthenticateReplyBody } from '../format/fastpath-wire';
import { ANONYMOUS_PRINCIPAL, SASL_AUTHENTICATION_FAILED, SaslError, SaslMechanism, saslClient } from '../format/sasl';
import { RdmqError } from './errors';

export interface SaslOptions {
  mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
  username: string;
  password: string;
}

/** Who a connection presents itself as: a user, or (the gateway in the broker's process) the process's cluster token. */
export interface AuthenticationOptions {
  sasl?: SaslOptions;
  clusterToken?: Buffer;
}

const CLUSTER_TOKEN_MECHANISM = 'RDMQ-CLUSTER-TOKEN';
/** SCRAM takes two round trips, PLAIN one: more is a broker that never finishes. */
const ROUNDS_MAX = 4;

export function saslMechanismOf(name: string): SaslMechanism {
  const upper = String(name).toUpperCase();
  if (upper !== 'PLAIN' && upper !== 'SCRAM-SHA-256' && upper !== 'SCRAM-SHA-512') {
    throw new RdmqError(`sasl.mechanism must be 'plain', 'scram-sha-256' or 'scram-sha-512', got '${name}'`, 33, 'UNSUPPORTED_SASL_MECHANISM', false);
  }
  return upper;
}

/**
 * Runs the exchange through `send` (one AUTHENTICATE round trip each);
 * resolves with the principal, rejects with a non-retriable RdmqError.
 */
export async function authenticate(
  send: (mechanism: string, authBytes: Buffer) => Promise<AuthenticateReplyBody>,
  options: AuthenticationOptions,
  required: boolean,
): Promise<string> {
  if (options.clusterToken) {
    const reply = await send(CLUSTER_TOKEN_MECHANISM, options.clusterToken);
    if (reply.errorCode !== 0) throw refused(reply.errorCode, `the broker refused this process's cluster token: ${reply.message}`);
    return reply.principal;
  }
  const sasl = options.sasl;
  if (!sasl) {
    if (required) throw refused(SASL_AUTHENTICATION_FAILED, 'the broker requires authentication (--require-authentication): connect with sasl: { mechanism, username, password }');
    return ANONYMOUS_PRINCIPAL;
  }
  const mechanism = saslMechanismOf(sasl.mechanism);
  const client = saslClient(mechanism, sasl.username, sasl.password);
  let message = client.start();
  for (let round = 0; round < ROUNDS_MAX; round++) {
    const reply = await send(mechanism, message);
    if (reply.errorCode !== 0) throw refused(reply.errorCode, `authentication of ${sasl.username} (${mechanism}) failed: ${reply.message}`);
    let next: Buffer | null;
    try {
      next = client.step(Buffer.from(reply.authBytes, 'base64'));
    } catch (err) {
      throw refused(err instanceof SaslError ? err.kafkaErrorCode : SASL_AUTHENTICATION_FAILED, `authentication of ${sasl.username} (${mechanism}) failed: ${(err as Error).message}`);
    }
    if (reply.done) return reply.principal;
    if (next === null) throw refused(SASL_AUTHENTICATION_FAILED, `the broker did not finish the ${mechanism} exchange`);
    message = next;
  }
  throw refused(SASL_AUTHENTICATION_FAILED, `the broker did not finish the ${mechanism} exchange in ${ROUNDS_MAX} rounds`);
}

function refused(code: number, message: string): RdmqError {
  return new RdmqError(message, code, code === SASL_AUTHENTICATION_FAILED ? 'SASL_AUTHENTICATION_FAILED' : undefined, false);
}
