// CRC32C (Castagnoli), as Kafka record batches use it. Large inputs go to
// native code: the addon's three-chain SSE4.2 loop (about 20 GB/s on one
// core, several times @node-rs/crc32's single chain), or @node-rs/crc32
// where the addon has no instructions to use (it then falls back to tables,
// and @node-rs/crc32 has ARMv8's). Below the crossover a native call costs
// more than the table loop, so small inputs stay in JS.
import { crc32c as crc32cNodeRs } from '@node-rs/crc32';
import { native } from './native';

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

type Crc32cFunction = (bytes: Uint8Array, initial: number) => number;

let large: Crc32cFunction | undefined;

/** Chosen on first use, so importing this module does not load the addon. */
function largeInputCrc(): Crc32cFunction {
  if (large === undefined) {
    const addon = native();
    large = addon.crc32cHardware
      ? (bytes, initial) => addon.crc32c(bytes, initial)
      : (bytes, initial) => crc32cNodeRs(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), initial) >>> 0;
  }
  return large;
}

/** CRC32C of `bytes`, continuing from `initial` (the CRC of what came before). */
export function crc32c(bytes: Uint8Array, initial = 0): number {
  if (bytes.length < NATIVE_CROSSOVER_BYTES) return crc32cTable(bytes, initial);
  return largeInputCrc()(bytes, initial);
}

/**
 * Block CRCs: the raw CRC32C register (from zero, no inversion) of each whole
 * block of CRC_BLOCK_BYTES. A thread that copies bytes in takes them while
 * the bytes are in its cache (PeerProcess.readIntoAsync); a later check joins
 * them into a CRC without reading those blocks again (crc32cWithBlocks).
 */
export const CRC_BLOCK_BYTES = 4096;

/** The block CRCs of the whole blocks of `bytes` that start `firstBlockOffset` bytes in (< CRC_BLOCK_BYTES). */
export function crc32cBlocks(bytes: Uint8Array, firstBlockOffset: number): Uint32Array {
  return native().crc32cBlocks(bytes, firstBlockOffset);
}

/**
 * CRC32C of `bytes`, where block k starts at head + k * CRC_BLOCK_BYTES
 * (head < CRC_BLOCK_BYTES) and has the block CRC crcs[k], used where valid[k]
 * is nonzero and read again where it is 0. Bytes outside the blocks are read.
 */
export function crc32cWithBlocks(bytes: Uint8Array, head: number, crcs: Uint32Array, valid: Uint8Array): number {
  return native().crc32cWithBlocks(bytes, head, crcs, valid);
}
