// SASL mechanisms shared by every door: PLAIN (RFC 4616) and SCRAM-SHA-256 /
// SCRAM-SHA-512 (RFC 5802, RFC 7677), as Kafka speaks them (KIP-84). Pure
// logic on node:crypto, no I/O: the Kafka gateway and the broker's fast-path
// service run the server side, the SDK and tests the client side.
//
// Credentials are kept as Kafka keeps them: salt, iterations, StoredKey =
// H(HMAC(SaltedPassword, "Client Key")) and ServerKey = HMAC(SaltedPassword,
// "Server Key"). The password is never stored; PLAIN is checked by deriving
// StoredKey from the given password with the stored salt and iterations.
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

export type ScramMechanism = 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
export type SaslMechanism = 'PLAIN' | ScramMechanism;

export const SCRAM_MECHANISMS: readonly ScramMechanism[] = ['SCRAM-SHA-256', 'SCRAM-SHA-512'];
export const SASL_MECHANISMS: readonly SaslMechanism[] = ['PLAIN', ...SCRAM_MECHANISMS];
/** Kafka's bounds on SCRAM iterations (ScramMechanism.minIterations / maxIterations). */
export const SCRAM_ITERATIONS_MIN = 4096;
export const SCRAM_ITERATIONS_MAX = 16384;
export const SCRAM_ITERATIONS_DEFAULT = 8192;
/** Kafka's user names are principals' names: bounded like any string we store. */
export const USER_NAME_BYTES_MAX = 255;
export const PASSWORD_BYTES_MAX = 1024;

/** The principal of whoever did not authenticate. */
export const ANONYMOUS_PRINCIPAL = 'User:ANONYMOUS';
export const principalOf = (user: string): string => `User:${user}`;

/** Kafka's ScramMechanism enum in Describe/AlterUserScramCredentials. */
export const SCRAM_MECHANISM_TYPES: Record<ScramMechanism, number> = { 'SCRAM-SHA-256': 1, 'SCRAM-SHA-512': 2 };
export function scramMechanismOfType(type: number): ScramMechanism | undefined {
  return SCRAM_MECHANISMS.find((m) => SCRAM_MECHANISM_TYPES[m] === type);
}

export function isScramMechanism(name: string): name is ScramMechanism {
  return (SCRAM_MECHANISMS as readonly string[]).includes(name);
}

/** The stored form of one user's password for one mechanism. */
export interface ScramCredential {
  mechanism: ScramMechanism;
  salt: Buffer;
  iterations: number;
  storedKey: Buffer;
  serverKey: Buffer;
}

/** Why authentication failed; `code` is Kafka's (SASL_AUTHENTICATION_FAILED = 58, ILLEGAL_SASL_STATE = 34, ...). */
export class SaslError extends Error {
  readonly retriable = false;
  constructor(
    readonly kafkaErrorCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'SaslError';
  }
}
export const SASL_AUTHENTICATION_FAILED = 58;
export const ILLEGAL_SASL_STATE = 34;
export const UNSUPPORTED_SASL_MECHANISM = 33;

const hashOf = (m: ScramMechanism): 'sha256' | 'sha512' => (m === 'SCRAM-SHA-256' ? 'sha256' : 'sha512');
const keyBytesOf = (m: ScramMechanism): number => (m === 'SCRAM-SHA-256' ? 32 : 64);
const hmac = (m: ScramMechanism, key: Buffer, text: string | Buffer): Buffer => createHmac(hashOf(m), key).update(text).digest();
const hash = (m: ScramMechanism, data: Buffer): Buffer => createHash(hashOf(m)).update(data).digest();

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i];
  return out;
}

/** Hi(password, salt, i) of RFC 5802: PBKDF2 with HMAC-H and the hash's length. */
export function saltedPassword(m: ScramMechanism, password: string, salt: Buffer, iterations: number): Buffer {
  return pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, keyBytesOf(m), hashOf(m));
}

/** What the broker stores, from a salted password (what Kafka's AlterUserScramCredentials carries). */
export function scramCredentialFromSalted(mechanism: ScramMechanism, salt: Buffer, iterations: number, salted: Buffer): ScramCredential {
  checkIterations(iterations);
  if (salted.length !== keyBytesOf(mechanism)) throw new RangeError(`a ${mechanism} salted password has ${keyBytesOf(mechanism)} bytes, got ${salted.length}`);
  if (salt.length === 0) throw new RangeError('the salt must not be empty');
  return {
    mechanism,
    salt,
    iterations,
    storedKey: hash(mechanism, hmac(mechanism, salted, 'Client Key')),
    serverKey: hmac(mechanism, salted, 'Server Key'),
  };
}

export function checkIterations(iterations: number): void {
  if (!Number.isInteger(iterations) || iterations < SCRAM_ITERATIONS_MIN || iterations > SCRAM_ITERATIONS_MAX) {
    throw new RangeError(`iterations must be an integer from ${SCRAM_ITERATIONS_MIN} to ${SCRAM_ITERATIONS_MAX}, got ${iterations}`);
  }
}

/** Derives what the broker stores for a password; a random 32-byte salt unless given. */
export function scramCredentialOf(mechanism: ScramMechanism, password: string, iterations = SCRAM_ITERATIONS_DEFAULT, salt: Buffer = randomBytes(32)): ScramCredential {
  checkIterations(iterations);
  if (password.length === 0 || Buffer.byteLength(password) > PASSWORD_BYTES_MAX) throw new RangeError(`a password must have 1 to ${PASSWORD_BYTES_MAX} bytes`);
  return scramCredentialFromSalted(mechanism, salt, iterations, saltedPassword(mechanism, password, salt, iterations));
}

/** Whether `password` is the one `credential` was derived from (PLAIN against the SCRAM store). */
export function passwordMatches(credential: ScramCredential, password: string): boolean {
  const derived = scramCredentialOf(credential.mechanism, password, credential.iterations, credential.salt);
  return timingSafeEqual(derived.storedKey, credential.storedKey);
}

/** SCRAM's saslname: ',' and '=' escaped as =2C and =3D. */
const encodeSaslName = (name: string): string => name.replace(/=/g, '=3D').replace(/,/g, '=2C');
function decodeSaslName(text: string): string {
  if (/=(?!2C|3D)/.test(text)) throw new SaslError(SASL_AUTHENTICATION_FAILED, `malformed SCRAM user name "${text}"`);
  return text.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

/** "a=1,b=2" → Map; a SCRAM message's attributes in order. */
function attributes(message: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const part of message.split(',')) {
    const eq = part.indexOf('=');
    if (eq !== 1) throw new SaslError(SASL_AUTHENTICATION_FAILED, `malformed SCRAM message: "${message.slice(0, 100)}"`);
    map.set(part[0], part.slice(2));
  }
  return map;
}

/** Looks up a user's credential for a mechanism; undefined when there is none. */
export type CredentialLookup = (user: string, mechanism: ScramMechanism) => Promise<ScramCredential | undefined>;

/** The outcome of one step of a server-side exchange. */
export type SaslStep = { done: false; challenge: Buffer } | { done: true; user: string; challenge: Buffer };

/** The server side of one authentication exchange. Not reusable: one per attempt. */
export interface SaslServer {
  readonly mechanism: SaslMechanism;
  /** Answers the client's next message; throws SaslError on failure. */
  step(response: Buffer): Promise<SaslStep>;
}

/** `serverNonce` fixes the server's part of the nonce (RFC test vectors); random otherwise. */
export function saslServer(mechanism: SaslMechanism, lookup: CredentialLookup, options: { serverNonce?: string } = {}): SaslServer {
  return mechanism === 'PLAIN' ? new PlainServer(lookup) : new ScramServer(mechanism, lookup, options.serverNonce);
}

const failed = (m: SaslMechanism): SaslError =>
  new SaslError(SASL_AUTHENTICATION_FAILED, `Authentication failed during authentication due to invalid credentials with SASL mechanism ${m}`);

/** PLAIN: one message "authzid NUL user NUL password", checked against the SCRAM store (either mechanism). */
class PlainServer implements SaslServer {
  readonly mechanism = 'PLAIN' as const;
  private used = false;
  constructor(private readonly lookup: CredentialLookup) {}

  async step(response: Buffer): Promise<SaslStep> {
    if (this.used) throw new SaslError(ILLEGAL_SASL_STATE, 'PLAIN takes one message');
    this.used = true;
    const parts = response.toString('utf8').split('\u0000');
    if (parts.length !== 3) throw new SaslError(SASL_AUTHENTICATION_FAILED, 'Invalid SASL/PLAIN response: expected 3 tokens');
    const [authzid, user, password] = parts;
    if (user.length === 0 || password.length === 0) throw new SaslError(SASL_AUTHENTICATION_FAILED, 'Authentication failed: username or password not specified');
    if (authzid !== '' && authzid !== user) throw new SaslError(SASL_AUTHENTICATION_FAILED, 'Authentication failed: Client requested an authorization id that is different from username');
    for (const m of SCRAM_MECHANISMS) {
      const credential = await this.lookup(user, m);
      if (credential) {
        if (passwordMatches(credential, password)) return { done: true, user, challenge: Buffer.alloc(0) };
        break;
      }
    }
    throw failed('PLAIN');
  }
}

/** SCRAM server: client-first → server-first → client-final → server-final (RFC 5802 §3). */
class ScramServer implements SaslServer {
  private state: 'first' | 'final' | 'done' = 'first';
  private user = '';
  private nonce = '';
  private credential: ScramCredential | undefined;
  private clientFirstBare = '';
  private serverFirst = '';

  constructor(
    readonly mechanism: ScramMechanism,
    private readonly lookup: CredentialLookup,
    private readonly serverNonce = randomBytes(24).toString('base64url'),
  ) {}

  async step(response: Buffer): Promise<SaslStep> {
    const text = response.toString('utf8');
    if (this.state === 'first') return this.first(text);
    if (this.state === 'final') return this.final(text);
    throw new SaslError(ILLEGAL_SASL_STATE, `the ${this.mechanism} exchange is complete`);
  }

  private async first(text: string): Promise<SaslStep> {
    // gs2-header: "n,," or "n,a=authzid,"; channel binding is not offered ("y"/"p" refused).
    const match = /^([ny]),(a=[^,]*)?,(.*)$/s.exec(text);
    if (!match) throw new SaslError(SASL_AUTHENTICATION_FAILED, `Invalid SCRAM client first message (channel binding is not supported)`);
    this.clientFirstBare = match[3];
    const attrs = attributes(this.clientFirstBare);
    const user = decodeSaslName(attrs.get('n') ?? '');
    const clientNonce = attrs.get('r') ?? '';
    if (user.length === 0 || clientNonce.length === 0) throw new SaslError(SASL_AUTHENTICATION_FAILED, 'Invalid SCRAM client first message: user and nonce are required');
    if (match[2] && decodeSaslName(match[2].slice(2)) !== user) {
      throw new SaslError(SASL_AUTHENTICATION_FAILED, 'Authentication failed: Client requested an authorization id that is different from username');
    }
    // Kafka's delegation-token extension (tokenauth=true) is not offered.
    if (attrs.get('tokenauth') !== undefined) throw new SaslError(SASL_AUTHENTICATION_FAILED, 'delegation tokens are not supported');
    const credential = await this.lookup(user, this.mechanism);
    if (!credential) throw failed(this.mechanism);
    this.user = user;
    this.credential = credential;
    this.nonce = clientNonce + this.serverNonce;
    this.serverFirst = `r=${this.nonce},s=${credential.salt.toString('base64')},i=${credential.iterations}`;
    this.state = 'final';
    return { done: false, challenge: Buffer.from(this.serverFirst) };
  }

  private final(text: string): SaslStep {
    this.state = 'done';
    const proofAt = text.lastIndexOf(',p=');
    if (proofAt < 0) throw new SaslError(SASL_AUTHENTICATION_FAILED, 'Invalid SCRAM client final message: no proof');
    const withoutProof = text.slice(0, proofAt);
    const attrs = attributes(withoutProof);
    // Kafka accepts a nonce that ends with the server's (some librdkafka versions put the client nonce before the whole
    // server nonce); the proof covers the message as sent, so nothing is weakened.
    if (!(attrs.get('r') ?? '').endsWith(this.nonce)) throw new SaslError(SASL_AUTHENTICATION_FAILED, 'Invalid SCRAM client final message: nonce does not match');
    const credential = this.credential!;
    const proof = Buffer.from(text.slice(proofAt + 3), 'base64');
    const m = this.mechanism;
    if (proof.length !== keyBytesOf(m)) throw failed(m);
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const clientSignature = hmac(m, credential.storedKey, authMessage);
    const clientKey = xor(proof, clientSignature);
    if (!timingSafeEqual(hash(m, clientKey), credential.storedKey)) throw failed(m);
    const serverSignature = hmac(m, credential.serverKey, authMessage);
    return { done: true, user: this.user, challenge: Buffer.from(`v=${serverSignature.toString('base64')}`) };
  }
}

/** The client side: what an SDK or a test sends. Not reusable: one per attempt. */
export interface SaslClient {
  /** The first message. */
  start(): Buffer;
  /** Answers the server's challenge; null when the exchange is complete (the server's last message verified). */
  step(challenge: Buffer): Buffer | null;
}

/** `clientNonce` fixes the client's nonce (RFC test vectors); random otherwise. */
export function saslClient(mechanism: SaslMechanism, user: string, password: string, options: { clientNonce?: string } = {}): SaslClient {
  return mechanism === 'PLAIN' ? plainClient(user, password) : new ScramClient(mechanism, user, password, options.clientNonce);
}

function plainClient(user: string, password: string): SaslClient {
  return { start: () => Buffer.from(`\u0000${user}\u0000${password}`, 'utf8'), step: () => null };
}

class ScramClient implements SaslClient {
  private clientFirstBare = '';
  private serverSignature: Buffer | undefined;

  constructor(
    private readonly mechanism: ScramMechanism,
    private readonly user: string,
    private readonly password: string,
    private readonly clientNonce = randomBytes(24).toString('base64url'),
  ) {}

  start(): Buffer {
    this.clientFirstBare = `n=${encodeSaslName(this.user)},r=${this.clientNonce}`;
    return Buffer.from(`n,,${this.clientFirstBare}`);
  }

  step(challenge: Buffer): Buffer | null {
    const text = challenge.toString('utf8');
    if (this.serverSignature) {
      const attrs = attributes(text);
      if (attrs.has('e')) throw new SaslError(SASL_AUTHENTICATION_FAILED, `the server refused: ${attrs.get('e')}`);
      const v = Buffer.from(attrs.get('v') ?? '', 'base64');
      if (v.length !== this.serverSignature.length || !timingSafeEqual(v, this.serverSignature)) {
        throw new SaslError(SASL_AUTHENTICATION_FAILED, 'the server\'s signature does not match: it does not know this password');
      }
      return null;
    }
    const attrs = attributes(text);
    const nonce = attrs.get('r') ?? '';
    const salt = Buffer.from(attrs.get('s') ?? '', 'base64');
    const iterations = Number(attrs.get('i'));
    if (!nonce.startsWith(this.clientNonce) || salt.length === 0) throw new SaslError(SASL_AUTHENTICATION_FAILED, 'invalid SCRAM server first message');
    checkIterations(iterations);
    const m = this.mechanism;
    const salted = saltedPassword(m, this.password, salt, iterations);
    const clientKey = hmac(m, salted, 'Client Key');
    const withoutProof = `c=${Buffer.from('n,,').toString('base64')},r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${text},${withoutProof}`;
    const proof = xor(clientKey, hmac(m, hash(m, clientKey), authMessage));
    this.serverSignature = hmac(m, hmac(m, salted, 'Server Key'), authMessage);
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`);
  }
}
