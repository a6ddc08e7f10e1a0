// How a cluster member proves it holds the cluster secret on a gRPC call:
// metadata `rdmq-cluster-proof: v1.<unix ms>.<nonce>.<HMAC-SHA256>` over the
// call's method path, the time and the nonce. The secret itself never
// travels, so a captured proof (possible only on a link without TLS, which
// needs --allow-insecure off loopback) reveals nothing about it, works only
// for the same method and expires after PROOF_AGE_MS_MAX. Over TLS nobody
// sees the proof at all.
import { createHmac, randomBytes, timingSafeEqual } from 'crypto';

export const PROOF_METADATA_KEY = 'rdmq-cluster-proof';
/** Set by the server on a call whose proof held (any value a client sent is removed first). */
export const MEMBER_METADATA_KEY = 'rdmq-cluster-member';
/** Clock difference between members tolerated, either way. */
export const PROOF_AGE_MS_MAX = 60_000;
const VERSION = 'v1';

function mac(secret: Buffer, method: string, timeMs: string, nonce: string): Buffer {
  return createHmac('sha256', secret).update(`rdmq-cluster-proof ${VERSION}\n${method}\n${timeMs}\n${nonce}`).digest();
}

export function proveMembership(secret: Buffer, method: string, nowMs = Date.now()): string {
  const nonce = randomBytes(12).toString('hex');
  const timeMs = String(nowMs);
  return `${VERSION}.${timeMs}.${nonce}.${mac(secret, method, timeMs, nonce).toString('hex')}`;
}

/** Why `proof` does not show membership for `method`, or undefined when it does. */
export function proofRefusal(secret: Buffer | undefined, method: string, proof: string | undefined, nowMs = Date.now()): string | undefined {
  if (!secret) return 'this server has no cluster secret';
  if (!proof) return 'the call carries no cluster proof (start the caller with --cluster-secret-file naming the cluster\'s secret)';
  const parts = proof.split('.');
  if (parts.length !== 4 || parts[0] !== VERSION || !/^\d{1,15}$/.test(parts[1]) || !/^[0-9a-f]{64}$/.test(parts[3])) return 'the cluster proof is malformed';
  const [, timeMs, nonce, given] = parts;
  if (Math.abs(nowMs - Number(timeMs)) > PROOF_AGE_MS_MAX) return `the cluster proof is from ${new Date(Number(timeMs)).toISOString()}, more than ${PROOF_AGE_MS_MAX / 1000} s from this server's clock`;
  if (!timingSafeEqual(Buffer.from(given, 'hex'), mac(secret, method, timeMs, nonce))) return 'the cluster proof does not match this cluster\'s secret';
  return undefined;
}

/**
 * What a fast-path proof is bound to: the connection, by both sides' ids for
 * it, so a proof seen on one connection proves nothing on another.
 */
export function fastPathMemberMethod(brokerConnectionId: number, clientConnectionId: number): string {
  return `fastpath/MEMBER/${brokerConnectionId}/${clientConnectionId}`;
}
