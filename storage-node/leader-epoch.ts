// Fencing of deposed brokers. In an HA group (brokers elected through etcd)
// every leadership term has an epoch that only grows; the leader sends it
// with every storage call (gRPC metadata `rdmq-leader-epoch`). The storage
// node remembers the highest epoch it has seen and refuses mutating calls
// that carry a lower one, or none once an epoch was seen: a leader paused
// past its lease, resumed after a new leader claimed the node, cannot commit,
// allocate, seal or free any more. A single broker without etcd sends no
// epoch and is never fenced.
//
// The highest epoch is written to `epochFile` (fsync'd, then renamed) before
// the call that raised it is answered, so a restarted node still refuses the
// older leaders it refused before.
import * as fs from 'fs';
import * as grpc from '@grpc/grpc-js';
import { StorageError } from './storage-error';

export const LEADER_EPOCH_METADATA_KEY = 'rdmq-leader-epoch';

export class LeaderEpochFence {
  private highest: bigint | undefined;
  /** Mutating calls refused (for tests and logs). */
  refused = 0;

  constructor(
    private readonly log?: (message: string) => void,
    /** Where the highest epoch survives a restart; in memory only when not given. */
    private readonly epochFile?: string,
  ) {
    if (epochFile && fs.existsSync(epochFile)) {
      const text = fs.readFileSync(epochFile, 'utf8').trim();
      if (!/^\d{1,19}$/.test(text)) throw new StorageError('CORRUPT_REGION', `${epochFile} holds ${JSON.stringify(text)}, not a leader epoch; remove it only if no older broker can still run`);
      this.highest = BigInt(text);
    }
  }

  get highestEpoch(): bigint | undefined {
    return this.highest;
  }

  /** Any call: a higher epoch claims the node. */
  observe(epoch: bigint | undefined): void {
    if (epoch === undefined || (this.highest !== undefined && epoch <= this.highest)) return;
    if (this.epochFile) {
      const temp = `${this.epochFile}.tmp`;
      const fd = fs.openSync(temp, 'w');
      try {
        fs.writeSync(fd, `${epoch}\n`);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(temp, this.epochFile);
    }
    this.log?.(`leader epoch ${epoch} claimed this storage node${this.highest === undefined ? '' : ` (was ${this.highest})`}; calls with an older epoch are refused`);
    this.highest = epoch;
  }

  /** A mutating call: observes its epoch, then throws FENCED if it is older than the highest seen. */
  admit(epoch: bigint | undefined, method: string): void {
    this.observe(epoch);
    if (this.highest === undefined) return;
    if (epoch === undefined || epoch < this.highest) {
      this.refused++;
      const what = epoch === undefined ? 'carries no leader epoch' : `carries leader epoch ${epoch}`;
      this.log?.(`refused ${method}: it ${what}, but leader epoch ${this.highest} has claimed this node (a deposed broker)`);
      throw new StorageError('FENCED', `${method} refused: the call ${what}, but a newer leader (epoch ${this.highest}) has claimed this storage node; this broker was deposed`);
    }
  }
}

export function epochOf(metadata: grpc.Metadata): bigint | undefined {
  const [value] = metadata.get(LEADER_EPOCH_METADATA_KEY);
  if (value === undefined) return undefined;
  const text = String(value);
  if (!/^\d{1,19}$/.test(text)) throw new StorageError('INVALID_ARGUMENT', `${LEADER_EPOCH_METADATA_KEY} must be a non-negative integer, got ${JSON.stringify(text)}`);
  return BigInt(text);
}
