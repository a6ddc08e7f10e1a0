// The cluster id Kafka clients see: Kafka's own format, 22 characters of
// URL-safe base64 without padding over 16 bytes (Kafka's Uuid.toString). It
// is derived from the storage node's region UUID, which is random when the
// region is made and stored in its superblock: stable across restarts, and a
// region made before this format turns into the same id every time.
import { createHash } from 'crypto';

const DASHED_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function kafkaClusterId(regionUuid: string): string {
  const bytes = DASHED_UUID.test(regionUuid)
    ? Buffer.from(regionUuid.replace(/-/g, ''), 'hex')
    : createHash('sha256').update(regionUuid).digest().subarray(0, 16); // not a UUID: still one fixed id per input
  return bytes.toString('base64url');
}
