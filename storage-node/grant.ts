// Fast-path grants: what a client may do with one segment on one storage
// node, in a token the node itself checks before any byte moves. The broker
// obtains grants over the storage node's control channel (SegmentKey) and
// passes each only to a client it decided may have it (broker/grant-policy.ts);
// the client cannot change one without breaking its MAC.
//
// Layout (56 bytes, little-endian):
//   magic u32 "RDG1" | access u8 (1 read, 2 read-write) | pad 3 |
//   segmentId u64 | startPosition u64 | endPosition u64 | leaderEpoch u64 | mac 16
// mac = HMAC-SHA256(key, bytes 0..39), first 16 bytes. The key is the storage
// node's: random per process start (grants die with the process, as UCX keys
// did) and mixed with the leader epoch, so the grants of a deposed broker's
// term are refused once a newer leader claimed the node.
import { createHmac, randomBytes, timingSafeEqual } from 'crypto';
import { StorageError } from './storage-error';

export type GrantAccess = 'read' | 'read-write';

export interface Grant {
  segmentId: number;
  access: GrantAccess;
  /** Bytes [startPosition, endPosition) of the segment's data area. */
  startPosition: number;
  endPosition: number;
  leaderEpoch: bigint;
}

const MAGIC = 0x31474452; // "RDG1"
const SIGNED_BYTES = 40;
const MAC_BYTES = 16;
export const GRANT_BYTES = SIGNED_BYTES + MAC_BYTES;
const ACCESS_CODES: Record<GrantAccess, number> = { read: 1, 'read-write': 2 };

/** Per-epoch keys kept at most; an epoch changes only when a broker leader is elected. */
const EPOCH_KEYS_MAX = 8;

/** Signs and checks grants with one storage node's secret. */
export class GrantSigner {
  private readonly secret: Buffer;
  /** The key of each leader epoch seen lately: deriving it is an HMAC of its own. */
  private readonly epochKeys = new Map<bigint, Buffer>();

  constructor(secret: Buffer = randomBytes(32)) {
    this.secret = secret;
  }

  sign(grant: Grant): Buffer {
    const out = Buffer.alloc(GRANT_BYTES);
    out.writeUInt32LE(MAGIC, 0);
    out.writeUInt8(ACCESS_CODES[grant.access], 4);
    out.writeBigUInt64LE(BigInt(grant.segmentId), 8);
    out.writeBigUInt64LE(BigInt(grant.startPosition), 16);
    out.writeBigUInt64LE(BigInt(grant.endPosition), 24);
    out.writeBigUInt64LE(grant.leaderEpoch, 32);
    this.mac(out.subarray(0, SIGNED_BYTES), grant.leaderEpoch).copy(out, SIGNED_BYTES);
    return out;
  }

  /** The grant `bytes` carry, or GRANT_INVALID when they were not signed by this node (forged, altered, or from its earlier process). */
  verify(bytes: Buffer): Grant {
    if (bytes.length !== GRANT_BYTES || bytes.readUInt32LE(0) !== MAGIC) {
      throw new StorageError('GRANT_INVALID', `not a grant of this storage node (${bytes.length} bytes; a grant is ${GRANT_BYTES})`);
    }
    const leaderEpoch = bytes.readBigUInt64LE(32);
    const expected = this.mac(bytes.subarray(0, SIGNED_BYTES), leaderEpoch);
    if (!timingSafeEqual(expected, bytes.subarray(SIGNED_BYTES))) {
      throw new StorageError('GRANT_INVALID', 'grant signature does not match: it was altered, forged, or issued before this storage node restarted');
    }
    const code = bytes.readUInt8(4);
    const access: GrantAccess | undefined = code === 1 ? 'read' : code === 2 ? 'read-write' : undefined;
    if (access === undefined) throw new StorageError('GRANT_INVALID', `grant names unknown access ${code}`);
    return {
      access,
      segmentId: Number(bytes.readBigUInt64LE(8)),
      startPosition: Number(bytes.readBigUInt64LE(16)),
      endPosition: Number(bytes.readBigUInt64LE(24)),
      leaderEpoch,
    };
  }

  private mac(signed: Buffer, leaderEpoch: bigint): Buffer {
    return createHmac('sha256', this.epochKey(leaderEpoch)).update(signed).digest().subarray(0, MAC_BYTES);
  }

  private epochKey(leaderEpoch: bigint): Buffer {
    let key = this.epochKeys.get(leaderEpoch);
    if (!key) {
      key = createHmac('sha256', this.secret).update(`rdmq grant key, leader epoch ${leaderEpoch}`).digest();
      // A forged grant may name any epoch: the map stays small whatever clients send.
      if (this.epochKeys.size >= EPOCH_KEYS_MAX) this.epochKeys.delete(this.epochKeys.keys().next().value!);
      this.epochKeys.set(leaderEpoch, key);
    }
    return key;
  }
}

/** Grants remembered by one connection at most (a producer writes a segment or two at a time). */
const VERIFIED_GRANTS_MAX = 8;

/**
 * Grants one connection already presented and this node verified, by their
 * exact bytes: a request carrying bytes identical to one of them skips the
 * HMAC, any other bytes (one bit off) are verified in full. Only the
 * signature is remembered; epoch, access, bounds and the segment's state are
 * the caller's to check on every request.
 */
export class VerifiedGrants {
  private readonly entries: Array<{ bytes: Buffer; grant: Grant }> = [];

  constructor(readonly signer: GrantSigner) {}

  verify(bytes: Buffer): Grant {
    for (const e of this.entries) if (e.bytes.equals(bytes)) return e.grant;
    const grant = this.signer.verify(bytes);
    // Copied: `bytes` may be a view of a socket chunk.
    if (this.entries.length >= VERIFIED_GRANTS_MAX) this.entries.shift();
    this.entries.push({ bytes: Buffer.from(bytes), grant: Object.freeze(grant) });
    return grant;
  }
}

/** True when a grant's bytes start like one (a storage node's key of the checked path). */
export function looksLikeGrant(bytes: Uint8Array): boolean {
  return bytes.length === GRANT_BYTES && Buffer.from(bytes.buffer, bytes.byteOffset, 4).readUInt32LE(0) === MAGIC;
}
