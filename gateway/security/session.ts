// One Kafka connection's identity: the listener it came in on and its
// principal (`User:<name>`, `User:ANONYMOUS` until it authenticates). The
// gateway's handlers read `principal` from here (authorization, logs).
//
// On a SASL listener nothing but ApiVersions, SaslHandshake and
// SaslAuthenticate is accepted before the exchange succeeds; anything else
// closes the connection, as Kafka's broker does. A failed exchange is
// answered (SASL_AUTHENTICATION_FAILED with a message) and then closes it.
// Re-authentication (KIP-368) is not offered: sessionLifetimeMs is 0.
import { ANONYMOUS_PRINCIPAL, SaslMechanism, SaslServer } from '../../format/sasl';
import { apiKeys } from '../protocol';
import { SecurityProtocol, usesSasl } from './listeners';

const BEFORE_AUTHENTICATION = new Set<number>([apiKeys.ApiVersions, apiKeys.SaslHandshake, apiKeys.SaslAuthenticate]);

export class KafkaSession {
  principal: string;
  /** The mechanism SaslHandshake chose; the exchange SaslAuthenticate runs. */
  mechanism: SaslMechanism | undefined;
  exchange: SaslServer | undefined;
  /** Set by a handler whose response is the last: the connection closes once it is written. */
  closeAfterResponse = false;
  private saslDone: boolean;

  constructor(
    readonly listenerName: string,
    readonly protocol: SecurityProtocol,
    /** The principal of a verified client certificate (mutual TLS): `User:<CN>`. */
    tlsPrincipal?: string,
  ) {
    this.principal = tlsPrincipal ?? ANONYMOUS_PRINCIPAL;
    this.saslDone = !usesSasl(protocol);
  }

  /** A forwarded request's session: what the forwarding gateway established. */
  static forwarded(listenerName: string, principal: string): KafkaSession {
    const session = new KafkaSession(listenerName, 'PLAINTEXT');
    session.principal = principal || ANONYMOUS_PRINCIPAL;
    return session;
  }

  get saslEnabled(): boolean {
    return usesSasl(this.protocol);
  }

  get authenticated(): boolean {
    return this.saslDone;
  }

  /** Whether a request of `apiKey` may be handled now. */
  allows(apiKey: number): boolean {
    return this.saslDone || BEFORE_AUTHENTICATION.has(apiKey);
  }

  succeeded(principal: string): void {
    this.principal = principal;
    this.saslDone = true;
    this.exchange = undefined;
  }
}
