import { crc32c } from './crc32c';

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

  it('accepts a Uint8Array view into a larger buffer without copying it', () => {
    const backing = new Uint8Array(4096).fill(7);
    const view = new Uint8Array(backing.buffer, 100, 1000);
    expect(crc32c(view)).toBe(crc32c(Buffer.alloc(1000, 7)));
  });
});
