// SaslHandshake and SaslAuthenticate (KIP-43, KIP-152): PLAIN and
// SCRAM-SHA-256/512 on SASL listeners, checked against the broker's users.
// A handshake v0 (raw tokens after it, no SaslAuthenticate) is answered but
// not supported: every client that speaks SaslAuthenticate uses v1.
import { principalOf, SASL_MECHANISMS, SaslError, SaslMechanism, saslServer } from '../../format/sasl';
import { errorCode } from '../protocol';
import { DataContext, Handler, RequestContext } from '../context';

/** The mechanisms offered on a SASL listener. */
export const ENABLED_MECHANISMS: readonly SaslMechanism[] = SASL_MECHANISMS;

export const saslHandshake: Handler<'SaslHandshake', DataContext> = (body, call) => {
  const session = call.session;
  if (!session.saslEnabled) return { errorCode: errorCode('UNSUPPORTED_SASL_MECHANISM'), mechanisms: [] };
  if (session.authenticated || session.exchange) {
    refuse(call, `SaslHandshake on an already ${session.authenticated ? 'authenticated' : 'started'} connection`);
    return { errorCode: errorCode('ILLEGAL_SASL_STATE'), mechanisms: [...ENABLED_MECHANISMS] };
  }
  const mechanism = ENABLED_MECHANISMS.find((m) => m === body.mechanism);
  if (!mechanism) {
    refuse(call, `unsupported SASL mechanism "${String(body.mechanism).slice(0, 64)}"`);
    return { errorCode: errorCode('UNSUPPORTED_SASL_MECHANISM'), mechanisms: [...ENABLED_MECHANISMS] };
  }
  session.mechanism = mechanism;
  session.exchange = saslServer(mechanism, (user, m) => call.gateway.credentials?.(user, m) ?? Promise.resolve(undefined));
  return { errorCode: 0, mechanisms: [...ENABLED_MECHANISMS] };
};

export const saslAuthenticate: Handler<'SaslAuthenticate', DataContext> = async (body, call) => {
  const session = call.session;
  const exchange = session.exchange;
  if (!session.saslEnabled || !exchange) {
    const why = session.saslEnabled ? 'SaslAuthenticate before SaslHandshake' : `SASL is not enabled on listener ${session.listenerName}`;
    refuse(call, why);
    return { errorCode: errorCode('ILLEGAL_SASL_STATE'), errorMessage: why, authBytes: Buffer.alloc(0), sessionLifetimeMs: 0n };
  }
  try {
    const step = await exchange.step(body.authBytes);
    if (step.done) {
      session.succeeded(principalOf(step.user));
      call.gateway.log(`SASL/${exchange.mechanism} authenticated ${session.principal} from ${call.clientHost} on listener ${session.listenerName}`);
    }
    return { errorCode: 0, errorMessage: null, authBytes: step.challenge, sessionLifetimeMs: 0n };
  } catch (err) {
    if (!(err instanceof SaslError)) throw err;
    refuse(call, `SASL/${exchange.mechanism} authentication failed: ${err.message}`);
    return { errorCode: err.kafkaErrorCode, errorMessage: err.message, authBytes: Buffer.alloc(0), sessionLifetimeMs: 0n };
  }
};

/** Logs the refusal with the principal and closes the connection once the answer is written, as Kafka does. */
function refuse(call: RequestContext<DataContext>, why: string): void {
  const session = call.session;
  session.closeAfterResponse = true;
  session.exchange = undefined;
  call.gateway.log(`closing Kafka connection from ${call.clientHost} (${session.principal}, listener ${session.listenerName}): ${why}`);
}
