import fc from 'fast-check';
import { ProtocolError, Reader, Writer } from './index';

describe('wire primitives', () => {
  test('unsigned varints round-trip over the whole 32-bit range', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (v) => {
      const w = new Writer(1);
      w.uvarint(v);
      const r = new Reader(w.toBuffer());
      expect(r.uvarint()).toBe(v);
      expect(r.remaining).toBe(0);
    }));
  });

  test('signed zigzag varints and varlongs round-trip', () => {
    fc.assert(fc.property(fc.integer(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (i, l) => {
      const w = new Writer(1);
      w.varint(i);
      w.varlong(l);
      const r = new Reader(w.toBuffer());
      expect(r.varint()).toBe(i);
      expect(r.varlong()).toBe(l);
      expect(r.remaining).toBe(0);
    }));
  });

  test('zigzag encodes small magnitudes in one byte, as the record format expects', () => {
    const w = new Writer();
    for (const v of [0, -1, 1, -64, 63]) w.varint(v);
    expect([...w.toBuffer()]).toEqual([0, 1, 2, 127, 126]);
  });

  test('fixed-width values round-trip through a writer that grows by chunks', () => {
    const w = new Writer(3);
    w.int8(-5); w.int16(-300); w.uint16(65535); w.int32(-70000); w.uint32(4000000000); w.int64(-(2n ** 62n)); w.float64(1.5); w.bool(true);
    const r = new Reader(w.toBuffer());
    expect([r.int8(), r.int16(), r.uint16(), r.int32(), r.uint32(), r.int64(), r.float64(), r.bool()])
      .toEqual([-5, -300, 65535, -70000, 4000000000, -(2n ** 62n), 1.5, true]);
  });

  test('reading past the end is a ProtocolError, never a RangeError', () => {
    const r = new Reader(Buffer.from([1, 2, 3]));
    expect(() => r.int32()).toThrow(ProtocolError);
    expect(() => r.slice(4)).toThrow(ProtocolError);
    expect(() => new Reader(Buffer.alloc(0)).uvarint()).toThrow(ProtocolError);
  });

  test('a reader never reads past its own end, even inside a larger buffer', () => {
    const r = new Reader(Buffer.from([0, 0, 0, 1, 0, 0, 0, 2]), 0, 6);
    expect(r.int32()).toBe(1);
    expect(() => r.int32()).toThrow(ProtocolError);
  });
});
