import { readStamp, STAMP_BYTES, TEXT_STAMP_BYTES, TextStampScanner, wallClockMs, writeStamp, writeTextStamp } from './e2e-stamp';

describe('end-to-end stamps', () => {
  it('a value carries its produce time with µs resolution, and an unstamped value carries none', () => {
    const value = Buffer.alloc(64, 0x62);
    const now = wallClockMs();
    writeStamp(value, now);
    expect(readStamp(value)).toBe(now);
    expect(readStamp(Buffer.alloc(64, 0x62))).toBeUndefined();
    expect(readStamp(Buffer.alloc(STAMP_BYTES - 1))).toBeUndefined();
    expect(readStamp(null)).toBeUndefined();
    expect(() => writeStamp(Buffer.alloc(STAMP_BYTES - 1), now)).toThrow(/at least 12 bytes/);
  });

  it('text stamps are found in a stream cut at every possible place, each exactly once', () => {
    const line = 40;
    const stream = Buffer.alloc(line * 3, 0x62);
    const times = [1700000000000.125, 1700000000001.5, 1700000000123.999];
    times.forEach((t, i) => writeTextStamp(stream, i * line, t));
    for (let cut = 0; cut <= stream.length; cut++) {
      for (const step of [1, 7, TEXT_STAMP_BYTES]) {
        // The stream in `step`-sized chunks after a first chunk of `cut` bytes.
        const chunks = [stream.subarray(0, cut)];
        for (let at = cut; at < stream.length; at += step) chunks.push(stream.subarray(at, at + step));
        const scanner = new TextStampScanner();
        const found: number[] = [];
        for (const chunk of chunks) scanner.push(chunk, (t) => found.push(t));
        expect(found).toEqual(times);
      }
    }
  });
});
