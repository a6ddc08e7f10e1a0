// CRC32C (Castagnoli), as Kafka record batches use it. Large inputs go to
// @node-rs/crc32 (SSE4.2 / ARMv8 CRC instructions); below the crossover a
// native call costs more than the table loop, so small inputs stay in JS.
import { crc32c as crc32cNative } from '@node-rs/crc32';

const NATIVE_CROSSOVER_BYTES = 64;

const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32cTable(bytes: Uint8Array, initial: number): number {
  let crc = ~initial >>> 0;
  for (let i = 0; i < bytes.length; i++) crc = TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
}

/** CRC32C of `bytes`, continuing from `initial` (the CRC of what came before). */
export function crc32c(bytes: Uint8Array, initial = 0): number {
  if (bytes.length < NATIVE_CROSSOVER_BYTES) return crc32cTable(bytes, initial);
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return crc32cNative(buf, initial) >>> 0;
}
