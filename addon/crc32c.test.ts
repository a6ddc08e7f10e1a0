import { crc32c, crc32cBlocks, crc32cWithBlocks, CRC_BLOCK_BYTES } from './crc32c';

// Test vectors from RFC 3720 (iSCSI) appendix B.4 and the common "123456789" check value.
describe('crc32c', () => {
  const incrementing = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
  const decrementing = Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i));

  it.each([
    ['32 zero bytes', Buffer.alloc(32), 0x8a9136aa],
    ['32 bytes of 0xff', Buffer.alloc(32, 0xff), 0x62a8ab43],
    ['32 incrementing bytes', incrementing, 0x46dd794e],
    ['32 decrementing bytes', decrementing, 0x113fdb5c],
    ['"123456789"', Buffer.from('123456789'), 0xe3069283],
    ['empty input', Buffer.alloc(0), 0],
  ])('matches the published value for %s', (_name, input, expected) => {
    expect(crc32c(input)).toBe(expected);
  });

  it('gives the same answer on the table path and the native path', () => {
    const big = Buffer.alloc(1 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
    // Feed it in small pieces (table path) and whole (native path).
    let running = 0;
    for (let off = 0; off < big.length; off += 37) running = crc32c(big.subarray(off, Math.min(off + 37, big.length)), running);
    expect(running).toBe(crc32c(big));
  });

  it('agrees with the table path around the three-chain block boundaries, at any alignment', () => {
    const big = Buffer.alloc(3 * 8192 * 2 + 3 * 256 + 64);
    for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
    const byPieces = (bytes: Buffer, initial: number): number => {
      let crc = initial;
      for (let off = 0; off < bytes.length; off += 63) crc = crc32c(bytes.subarray(off, Math.min(off + 63, bytes.length)), crc);
      return crc;
    };
    for (const length of [64, 767, 768, 769, 3 * 256 + 8, 24575, 24576, 24577, 3 * 8192 + 3 * 256 + 7, big.length - 3]) {
      for (const start of [0, 1, 3]) {
        const view = big.subarray(start, start + length);
        expect(crc32c(view, 0x1234abcd)).toBe(byPieces(view, 0x1234abcd));
      }
    }
  });

  it('accepts a Uint8Array view into a larger buffer without copying it', () => {
    const backing = new Uint8Array(4096).fill(7);
    const view = new Uint8Array(backing.buffer, 100, 1000);
    expect(crc32c(view)).toBe(crc32c(Buffer.alloc(1000, 7)));
  });
});

describe('block CRCs', () => {
  const bytes = Buffer.alloc(10 * CRC_BLOCK_BYTES + 777);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761 + 12345) >>> 23;

  it('joins block CRCs taken earlier into the CRC of the whole, at any head, with any blocks read again instead', () => {
    for (const start of [0, 1, 21, 4095, 4096, 5000]) {
      for (const end of [bytes.length, bytes.length - 1, 9 * CRC_BLOCK_BYTES + 3]) {
        const view = bytes.subarray(start, end);
        const head = (CRC_BLOCK_BYTES - (start % CRC_BLOCK_BYTES)) % CRC_BLOCK_BYTES;
        const crcs = crc32cBlocks(view, head);
        expect(crcs.length).toBe(Math.floor((view.length - head) / CRC_BLOCK_BYTES));
        const all = new Uint8Array(crcs.length).fill(1);
        const some = all.map((_, k) => k % 3);
        const none = new Uint8Array(crcs.length);
        for (const valid of [all, some, none]) expect(crc32cWithBlocks(view, head, crcs, valid)).toBe(crc32c(view));
      }
    }
  });

  it('gives a different CRC when a block changed after its CRC was taken and still counts as valid, and the true one when it does not', () => {
    const copy = Buffer.from(bytes);
    const crcs = crc32cBlocks(copy, 0);
    copy[3 * CRC_BLOCK_BYTES + 10] ^= 0x01;
    const valid = new Uint8Array(crcs.length).fill(1);
    expect(crc32cWithBlocks(copy, 0, crcs, valid)).toBe(crc32c(bytes));
    valid[3] = 0;
    expect(crc32cWithBlocks(copy, 0, crcs, valid)).toBe(crc32c(copy));
  });

  it('refuses blocks that run past the bytes, a head of a block or more, and too few valid flags', () => {
    const crcs = crc32cBlocks(bytes, 0);
    const valid = new Uint8Array(crcs.length).fill(1);
    expect(() => crc32cWithBlocks(bytes.subarray(0, bytes.length - 1000), 0, crcs, valid)).toThrow(/run past/);
    expect(() => crc32cWithBlocks(bytes, CRC_BLOCK_BYTES, crcs.subarray(0, 1), valid)).toThrow(/head must be below/);
    expect(() => crc32cWithBlocks(bytes, 0, crcs, valid.subarray(1))).toThrow(/fewer entries/);
    expect(() => crc32cBlocks(bytes, CRC_BLOCK_BYTES)).toThrow(/firstBlockOffset must be below/);
  });
});
