// The users of the Kafka door and the fast path: SCRAM credentials kept in the
// broker's metadata (its own record kinds, so they survive restarts and reach
// etcd under HA like every other record). Stored as Kafka stores them — salt,
// iterations, StoredKey, ServerKey — never the password; PLAIN is checked
// against the same store (format/sasl.ts).
//
// Kafka's semantics (KIP-554): a user exists while it has a credential for
// at least one mechanism; AlterUserScramCredentials upserts and deletes per
// (user, mechanism), with the salted password computed by the client.
import {
  isScramMechanism,
  SCRAM_MECHANISMS,
  ScramCredential,
  scramCredentialFromSalted,
  ScramMechanism,
  USER_NAME_BYTES_MAX,
} from '../../format/sasl';
import type { MetadataStore } from '../topics';
import { BrokerError } from '../topics';

/** One credential as the metadata log holds it (binary fields in base64: records are JSON). */
export interface StoredScramCredential {
  salt: string;
  iterations: number;
  storedKey: string;
  serverKey: string;
}

/** user → mechanism → credential. */
export type CredentialState = Map<string, Map<ScramMechanism, StoredScramCredential>>;

export type CredentialRecord =
  | ({ type: 'ScramCredentialSet'; user: string; mechanism: ScramMechanism } & StoredScramCredential)
  | { type: 'ScramCredentialDeleted'; user: string; mechanism: ScramMechanism };

const RECORD_TYPES = new Set(['ScramCredentialSet', 'ScramCredentialDeleted']);

export function isCredentialRecord(record: { type: string }): record is CredentialRecord {
  return RECORD_TYPES.has(record.type);
}

/** Applies one credential record to `state.scramCredentials` (absent in snapshots written before users existed). */
export function applyCredentialRecord(state: { scramCredentials?: CredentialState }, record: CredentialRecord): void {
  const users = (state.scramCredentials ??= new Map());
  if (record.type === 'ScramCredentialSet') {
    let mechanisms = users.get(record.user);
    if (!mechanisms) users.set(record.user, (mechanisms = new Map()));
    mechanisms.set(record.mechanism, { salt: record.salt, iterations: record.iterations, storedKey: record.storedKey, serverKey: record.serverKey });
  } else {
    const mechanisms = users.get(record.user);
    mechanisms?.delete(record.mechanism);
    if (mechanisms?.size === 0) users.delete(record.user);
  }
}

export function toCredential(mechanism: ScramMechanism, stored: StoredScramCredential): ScramCredential {
  return {
    mechanism,
    salt: Buffer.from(stored.salt, 'base64'),
    iterations: stored.iterations,
    storedKey: Buffer.from(stored.storedKey, 'base64'),
    serverKey: Buffer.from(stored.serverKey, 'base64'),
  };
}

export function toStored(credential: ScramCredential): StoredScramCredential {
  return {
    salt: credential.salt.toString('base64'),
    iterations: credential.iterations,
    storedKey: credential.storedKey.toString('base64'),
    serverKey: credential.serverKey.toString('base64'),
  };
}

export interface UserDescription {
  user: string;
  credentials: { mechanism: ScramMechanism; iterations: number }[];
}

export interface ScramUpsertion {
  user: string;
  mechanism: ScramMechanism;
  iterations: number;
  salt: Buffer;
  saltedPassword: Buffer;
}

export interface ScramDeletion {
  user: string;
  mechanism: ScramMechanism;
}

/** The outcome for one user of an alteration; `error` null when it took effect. */
export interface UserAlterResult {
  user: string;
  error: BrokerError | null;
}

export function validateUserName(user: string): void {
  if (typeof user !== 'string' || user.length === 0 || Buffer.byteLength(user) > USER_NAME_BYTES_MAX || /[\u0000-\u001f]/.test(user)) {
    throw new BrokerError('UNACCEPTABLE_CREDENTIAL', `a user name must have 1 to ${USER_NAME_BYTES_MAX} bytes and no control characters, got ${JSON.stringify(String(user).slice(0, 50))}`);
  }
}

export function parseMechanism(name: string): ScramMechanism {
  if (!isScramMechanism(name)) throw new BrokerError('UNSUPPORTED_SASL_MECHANISM', `unknown SCRAM mechanism "${name}"; allowed: ${SCRAM_MECHANISMS.join(', ')}`);
  return name;
}

/**
 * The users in the broker's metadata. Reads see durable state; an alteration
 * is validated against everything already on its way to the log, like topics.
 */
export class UserStore {
  constructor(private readonly metadata: MetadataStore) {}

  private get users(): CredentialState {
    return this.metadata.state.scramCredentials ?? new Map();
  }

  /** A user's credential for one mechanism, undefined when it has none. */
  lookup(user: string, mechanism: ScramMechanism): ScramCredential | undefined {
    const stored = this.users.get(user)?.get(mechanism);
    return stored ? toCredential(mechanism, stored) : undefined;
  }

  /** The named users (every user when none are named), without key material. A named user that does not exist is RESOURCE_NOT_FOUND. */
  describe(users?: string[]): { user: string; description: UserDescription | null; error: BrokerError | null }[] {
    const names = users ?? [...this.users.keys()].sort();
    return names.map((user) => {
      const mechanisms = this.users.get(user);
      if (!mechanisms) return { user, description: null, error: new BrokerError('RESOURCE_NOT_FOUND', `Attempt to describe a user credential that does not exist: ${user}`) };
      return { user, error: null, description: { user, credentials: [...mechanisms].map(([mechanism, c]) => ({ mechanism, iterations: c.iterations })) } };
    });
  }

  /**
   * Kafka's AlterUserScramCredentials: every change of a user succeeds or
   * none does; a user named twice for one mechanism is DUPLICATE_RESOURCE.
   */
  async alter(upsertions: ScramUpsertion[], deletions: ScramDeletion[]): Promise<UserAlterResult[]> {
    const byUser = new Map<string, { upsertions: ScramUpsertion[]; deletions: ScramDeletion[] }>();
    for (const u of upsertions) (byUser.get(u.user) ?? byUser.set(u.user, { upsertions: [], deletions: [] }).get(u.user)!).upsertions.push(u);
    for (const d of deletions) (byUser.get(d.user) ?? byUser.set(d.user, { upsertions: [], deletions: [] }).get(d.user)!).deletions.push(d);
    const results: UserAlterResult[] = [];
    for (const [user, changes] of byUser) {
      try {
        const records = this.recordsFor(user, changes.upsertions, changes.deletions);
        for (const record of records) await this.metadata.appendCredentialRecord(record);
        results.push({ user, error: null });
      } catch (err) {
        if (!(err instanceof BrokerError) || err.code === 'KAFKA_STORAGE_ERROR') throw err;
        results.push({ user, error: err });
      }
    }
    return results;
  }

  private recordsFor(user: string, upsertions: ScramUpsertion[], deletions: ScramDeletion[]): CredentialRecord[] {
    validateUserName(user);
    const seen = new Set<string>();
    for (const change of [...upsertions, ...deletions]) {
      if (seen.has(change.mechanism)) throw new BrokerError('DUPLICATE_RESOURCE', `user ${user} is altered twice for ${change.mechanism} in one request`);
      seen.add(change.mechanism);
    }
    const existing = this.metadata.projectedState.scramCredentials?.get(user);
    const records: CredentialRecord[] = [];
    for (const d of deletions) {
      if (!existing?.has(d.mechanism)) throw new BrokerError('RESOURCE_NOT_FOUND', `Attempt to delete a user credential that does not exist: ${user} has no ${d.mechanism} credential`);
      records.push({ type: 'ScramCredentialDeleted', user, mechanism: d.mechanism });
    }
    for (const u of upsertions) {
      let credential: ScramCredential;
      try {
        credential = scramCredentialFromSalted(u.mechanism, u.salt, u.iterations, u.saltedPassword);
      } catch (err) {
        throw new BrokerError('UNACCEPTABLE_CREDENTIAL', `${user} (${u.mechanism}): ${(err as Error).message}`);
      }
      records.push({ type: 'ScramCredentialSet', user, mechanism: u.mechanism, ...toStored(credential) });
    }
    return records;
  }
}
