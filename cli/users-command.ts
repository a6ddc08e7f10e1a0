// `rdmq users`: the SCRAM users of the Kafka door and the fast path, kept in
// the broker's metadata. Passwords are salted and hashed here, as Kafka's
// admin client does; only the salted password travels to the broker, which
// stores StoredKey and ServerKey (never the password).
import * as fs from 'fs';
import { randomBytes } from 'crypto';
import { parseArgs } from 'util';
import { UsersClient } from '../broker';
import { SCRAM_ITERATIONS_DEFAULT, SCRAM_MECHANISMS, saltedPassword, ScramMechanism, checkIterations, isScramMechanism } from '../format/sasl';
import { CONTROL_FLAGS } from './control-flags';

export const USERS_USAGE = `rdmq users create|alter NAME (--password PW | --password-file FILE|-) [--mechanism SCRAM-SHA-256|SCRAM-SHA-512]
             [--iterations N] [--control HOST:PORT]
                                                    a user of the Kafka door (SASL PLAIN, SCRAM) and the SDK; without
                                                    --mechanism, both SCRAM mechanisms; iterations 4096..16384 (default 8192)
rdmq users delete NAME [--mechanism M] [--control HOST:PORT]   the user's credentials (all unless --mechanism)
rdmq users list [NAME ...] [--control HOST:PORT]    users and their mechanisms`;

export class UsageError extends Error {}

/** A password given on the command line, in a file, or on stdin (`--password-file -`): the first line. */
export function readPassword(password: string | undefined, passwordFile: string | undefined): string | undefined {
  if (password !== undefined && passwordFile !== undefined) throw new UsageError('give --password or --password-file, not both');
  if (password !== undefined) return password;
  if (passwordFile === undefined) return undefined;
  let text: string;
  try {
    text = fs.readFileSync(passwordFile === '-' ? 0 : passwordFile, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read --password-file ${passwordFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return text.split(/\r?\n/)[0];
}

export function parseScramMechanism(text: string): ScramMechanism {
  const upper = text.toUpperCase();
  if (!isScramMechanism(upper)) throw new UsageError(`--mechanism must be one of ${SCRAM_MECHANISMS.join(', ')}, got ${text}`);
  return upper;
}

export async function usersCommand(argv: string[], write: (line: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      control: { type: 'string' },
      password: { type: 'string' },
      'password-file': { type: 'string' },
      mechanism: { type: 'string' },
      iterations: { type: 'string' },
      ...CONTROL_FLAGS,
    },
    allowPositionals: true,
    strict: true,
  });
  const [action, ...names] = positionals;
  if (action === undefined) throw new UsageError(`users needs an action:\n${USERS_USAGE}`);
  if (!['create', 'alter', 'delete', 'list'].includes(action ?? '')) throw new UsageError(`unknown action "${action ?? ''}"; allowed: create, alter, delete, list`);
  if (action !== 'list' && names.length !== 1) throw new UsageError(`users ${action} needs one user name`);
  const mechanisms = values.mechanism ? [parseScramMechanism(values.mechanism)] : [...SCRAM_MECHANISMS];
  // Users are the cluster's to manage: the call proves the cluster secret (the Users service serves members only).
  (await import('./control-plane-setup')).setUpClientControlPlane(values);
  const client = new UsersClient(values.control ?? '127.0.0.1:7400');
  try {
    if (action === 'list') {
      for (const u of await client.describe(names)) {
        if (u.error !== 'NONE') write(`${u.user}\t${u.error}: ${u.message}`);
        else write(`${u.user}\t${u.credentials.map((c) => `${c.mechanism} (iterations ${c.iterations})`).join(', ')}`);
      }
      return;
    }
    const user = names[0];
    const [known] = await client.describe([user]);
    const exists = known.error === 'NONE';
    if (action === 'delete') {
      if (!exists) throw new Error(`user ${user} does not exist`);
      const deletions = values.mechanism ? mechanisms : known.credentials.map((c) => c.mechanism);
      report(await client.alter([], deletions.map((mechanism) => ({ user, mechanism }))), `deleted ${user} (${deletions.join(', ')})`, write);
      return;
    }
    if (action === 'create' && exists) throw new Error(`user ${user} already exists (${known.credentials.map((c) => c.mechanism).join(', ')}); use rdmq users alter to change its password`);
    if (action === 'alter' && !exists) throw new Error(`user ${user} does not exist; use rdmq users create`);
    const password = readPassword(values.password, values['password-file']);
    if (!password) throw new UsageError(`users ${action} needs --password or --password-file (- for stdin)`);
    const iterations = values.iterations === undefined ? SCRAM_ITERATIONS_DEFAULT : Number(values.iterations);
    try {
      checkIterations(iterations);
    } catch (err) {
      throw new UsageError(`--iterations: ${(err as Error).message}`);
    }
    const upsertions = mechanisms.map((mechanism) => {
      const salt = randomBytes(32);
      return { user, mechanism, iterations, salt, saltedPassword: saltedPassword(mechanism, password, salt, iterations) };
    });
    report(await client.alter(upsertions, []), `${action === 'create' ? 'created' : 'altered'} ${user} (${mechanisms.join(', ')}, iterations ${iterations})`, write);
  } finally {
    client.close();
  }
}

function report(results: { user: string; error: string; message: string }[], done: string, write: (line: string) => void): void {
  const failed = results.find((r) => r.error !== 'NONE');
  if (failed) throw new Error(`${failed.user}: ${failed.error}: ${failed.message}`);
  write(done);
}
