// Byte-level damage for fuzz tests: flip a bit, overwrite with an extreme
// value, cut, or splice in junk, at positions taken modulo the length.
import fc from 'fast-check';

export const byteMutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0x00, 0x7f, 0x80, 0xff) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), junk: fc.uint8Array({ minLength: 1, maxLength: 6 }) }),
);
export type ByteMutation = typeof byteMutation extends fc.Arbitrary<infer M> ? M : never;

/** A damaged copy of `bytes` (the input is left alone). */
export function applyMutations(bytes: Buffer, mutations: ByteMutation[]): Buffer {
  let out = Buffer.from(bytes);
  for (const m of mutations) {
    if (out.length === 0) break;
    const at = m.at % out.length;
    if (m.kind === 'flip') out[at] ^= 1 << m.bit;
    else if (m.kind === 'set') out[at] = m.value;
    else if (m.kind === 'cut') out = out.subarray(0, at);
    else out = Buffer.concat([out.subarray(0, at), Buffer.from(m.junk), out.subarray(at)]);
  }
  return out;
}
