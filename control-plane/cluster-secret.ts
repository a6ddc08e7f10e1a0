// The cluster secret: 32 random bytes that every member of one rdmq cluster
// (storage nodes, brokers, gateways, the operator's CLI) holds in a file
// readable by its owner only. Members prove they hold it on every control
// call (member-proof.ts); it never crosses the wire itself.
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const CLUSTER_SECRET_FILE_NAME = 'cluster-secret';
const SECRET_BYTES = 32;
/** Shorter secrets are refused: they could be guessed. */
const SECRET_BYTES_MIN = 16;

export class ClusterSecretError extends Error {
  readonly code = 'CLUSTER_SECRET';
  constructor(message: string) {
    super(message);
    this.name = 'ClusterSecretError';
  }
}

/** Reads a secret file: hex or any text of at least 16 bytes (trailing newline ignored); refuses a file others may read. */
export function readClusterSecret(file: string): Buffer {
  let stat: fs.Stats;
  let text: string;
  try {
    stat = fs.statSync(file);
    text = fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ClusterSecretError(`cannot read the cluster secret file ${file}: ${(err as Error).message}`);
  }
  if ((stat.mode & 0o077) !== 0) {
    throw new ClusterSecretError(`the cluster secret file ${file} may be read by others (mode ${(stat.mode & 0o777).toString(8)}); chmod 600 ${file}`);
  }
  const secret = /^[0-9a-f]+$/i.test(text) && text.length % 2 === 0 ? Buffer.from(text, 'hex') : Buffer.from(text, 'utf8');
  if (secret.length < SECRET_BYTES_MIN) throw new ClusterSecretError(`the cluster secret in ${file} is ${secret.length} bytes; it needs at least ${SECRET_BYTES_MIN} (e.g. openssl rand -hex 32 > ${file})`);
  return secret;
}

/**
 * The secret in `file`, created (mode 0600, in a directory of mode 0700 when
 * the directory is new) on first use. Two processes creating it at once
 * agree: the file appears whole (a link of a written temporary) or not at all.
 */
export function ensureClusterSecret(file: string): Buffer {
  if (fs.existsSync(file)) return readClusterSecret(file);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(temporary, randomBytes(SECRET_BYTES).toString('hex') + '\n', { mode: 0o600, flush: true });
  try {
    fs.linkSync(temporary, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    fs.rmSync(temporary, { force: true });
  }
  return readClusterSecret(file);
}

/** Where `rdmq start` keeps its own secret: beside its data. */
export function dataDirSecretFile(dataDir: string): string {
  return path.join(dataDir, CLUSTER_SECRET_FILE_NAME);
}

/**
 * The secret roles run apart on loopback share without being told
 * (`rdmq storage`, `rdmq broker`, `rdmq gateway` on one host as one user):
 * the same trust as the data directory's file, which that user can read too.
 */
export function userSecretFile(): string {
  return path.join(os.homedir(), '.rdmq', CLUSTER_SECRET_FILE_NAME);
}
