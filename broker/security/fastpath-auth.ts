// Authentication of fast-path (SDK) sessions: the same SASL mechanisms and
// users as the Kafka door, exchanged as AUTHENTICATE messages on the broker
// endpoint before anything else. The session keeps `principal` (User:<name>,
// User:ANONYMOUS until it authenticates). Cluster members — the gateway in
// the broker's process — present the process's cluster token instead and are
// marked `clusterMember` (their Kafka clients were checked at their door).
//
// With `requireAuthentication`, a session that sends anything else before
// authenticating is closed with one log line. Re-authentication is not
// offered: a session keeps its principal until it closes.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Endpoint } from '../../addon';
import { AuthenticateBody, AuthenticateReplyBody, decodeJson, encodeJson, FastPathMessage } from '../../format/fastpath-wire';
import { ANONYMOUS_PRINCIPAL, CredentialLookup, principalOf, SASL_AUTHENTICATION_FAILED, SASL_MECHANISMS, SaslError, SaslMechanism, saslServer, SaslServer } from '../../format/sasl';

export const CLUSTER_TOKEN_MECHANISM = 'RDMQ-CLUSTER-TOKEN';

/** What a fast-path session knows of its client's identity. */
export interface SessionIdentity {
  principal: string;
  /** A member of the cluster (a gateway): trusted as the cluster itself. */
  clusterMember?: boolean;
  /** The exchange under way, if any. */
  sasl?: SaslServer;
}

export interface FastPathAuthOptions {
  requireAuthentication: boolean;
  credentials: CredentialLookup;
  log: (message: string) => void;
}

export class FastPathAuthenticator {
  /** Handed to this process's own gateway, never sent anywhere else. */
  readonly clusterToken = randomBytes(32);

  constructor(private readonly options: FastPathAuthOptions) {}

  get required(): boolean {
    return this.options.requireAuthentication;
  }

  static anonymous(): SessionIdentity {
    return { principal: ANONYMOUS_PRINCIPAL };
  }

  /** Whether a message may be served; if not, the endpoint is closed (once) with a log line. */
  admits(ep: Endpoint, identity: SessionIdentity, messageId: number): boolean {
    // A member proves the cluster secret with MEMBER (control-plane/) instead of a SASL exchange.
    if (!this.options.requireAuthentication || messageId === FastPathMessage.AUTHENTICATE || messageId === FastPathMessage.MEMBER) return true;
    if (identity.principal !== ANONYMOUS_PRINCIPAL || identity.clusterMember) return true;
    this.options.log(`closing fast-path session from ${ep.remoteAddress} (${identity.principal}): message ${messageId} before authenticating (--require-authentication)`);
    void ep.close().catch(() => undefined);
    return false;
  }

  /** One AUTHENTICATE message: a step of the exchange, answered with AUTHENTICATE_REPLY. */
  async onAuthenticate(ep: Endpoint, header: Buffer, identity: SessionIdentity): Promise<void> {
    let reqId = header.length >= 4 ? header.readUInt32LE(0) : 0;
    let reply: AuthenticateReplyBody;
    try {
      const request = decodeJson<AuthenticateBody>(header, 'AUTHENTICATE');
      reqId = request.reqId;
      reply = await this.step(identity, request.body);
    } catch (err) {
      identity.sasl = undefined;
      const failed = err instanceof SaslError ? err : new SaslError(SASL_AUTHENTICATION_FAILED, (err as Error).message);
      this.options.log(`fast-path authentication from ${ep.remoteAddress} failed (${identity.principal}): ${failed.message}`);
      reply = { errorCode: failed.kafkaErrorCode, message: failed.message, authBytes: '', done: false, principal: identity.principal };
    }
    await ep.send(FastPathMessage.AUTHENTICATE_REPLY, encodeJson(reqId, reply));
  }

  private async step(identity: SessionIdentity, body: AuthenticateBody): Promise<AuthenticateReplyBody> {
    const authBytes = Buffer.from(String(body.authBytes ?? ''), 'base64');
    // The in-process gateway's token; it may already have proved the cluster secret with MEMBER too.
    if (body.mechanism === CLUSTER_TOKEN_MECHANISM && identity.principal === ANONYMOUS_PRINCIPAL) {
      if (authBytes.length !== this.clusterToken.length || !timingSafeEqual(authBytes, this.clusterToken)) throw new SaslError(SASL_AUTHENTICATION_FAILED, 'wrong cluster token');
      identity.clusterMember = true;
      return { errorCode: 0, message: '', authBytes: '', done: true, principal: identity.principal };
    }
    if (identity.principal !== ANONYMOUS_PRINCIPAL || identity.clusterMember) throw new SaslError(SASL_AUTHENTICATION_FAILED, `this session is already authenticated as ${identity.principal}`);
    const mechanism = SASL_MECHANISMS.find((m) => m === body.mechanism) as SaslMechanism | undefined;
    if (!mechanism) throw new SaslError(SASL_AUTHENTICATION_FAILED, `unsupported SASL mechanism "${String(body.mechanism).slice(0, 64)}"; allowed: ${SASL_MECHANISMS.join(', ')}`);
    if (identity.sasl && identity.sasl.mechanism !== mechanism) throw new SaslError(SASL_AUTHENTICATION_FAILED, 'the mechanism changed during the exchange');
    const exchange = (identity.sasl ??= saslServer(mechanism, this.options.credentials));
    const step = await exchange.step(authBytes);
    if (!step.done) return { errorCode: 0, message: '', authBytes: step.challenge.toString('base64'), done: false, principal: identity.principal };
    identity.sasl = undefined;
    identity.principal = principalOf(step.user);
    this.options.log(`fast-path session from an SDK client authenticated as ${identity.principal} (${mechanism})`);
    return { errorCode: 0, message: '', authBytes: step.challenge.toString('base64'), done: true, principal: identity.principal };
  }
}
