import fc from 'fast-check';
import { FrameError, FrameSplitter, ProtocolError } from './index';

function framed(payloads: Buffer[]): Buffer {
  return Buffer.concat(payloads.flatMap((p) => {
    const size = Buffer.alloc(4);
    size.writeInt32BE(p.length);
    return [size, p];
  }));
}

/** Cuts `stream` at the given points (taken modulo its length). */
function chop(stream: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (stream.length === 0 ? 0 : c % (stream.length + 1))))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of [...points, stream.length]) {
    out.push(stream.subarray(from, p));
    from = p;
  }
  return out;
}

describe('the frame splitter', () => {
  test('any chunking of a stream yields the same frames in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)), { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (payloads, cuts) => {
          const splitter = new FrameSplitter(1024);
          const got: Buffer[] = [];
          for (const chunk of chop(framed(payloads), cuts)) got.push(...splitter.push(chunk));
          expect(got.map((b) => b.toString('hex'))).toEqual(payloads.map((b) => b.toString('hex')));
          expect(splitter.bufferedBytes).toBe(0);
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('one byte at a time works, and a partial frame stays buffered', () => {
    const stream = framed([Buffer.from('abc'), Buffer.alloc(0), Buffer.from('defgh')]);
    const splitter = new FrameSplitter(100);
    const got: string[] = [];
    for (let i = 0; i < stream.length - 1; i++) got.push(...splitter.push(stream.subarray(i, i + 1)).map(String));
    expect(got).toEqual(['abc', '']);
    expect(splitter.bufferedBytes).toBe(8); // 4-byte prefix + 4 of 5 payload bytes
    expect(splitter.push(stream.subarray(stream.length - 1)).map(String)).toEqual(['defgh']);
  });

  test('frames that arrive whole in one chunk are views of that chunk, not copies', () => {
    const chunk = framed([Buffer.from('one'), Buffer.from('two')]);
    const frames = new FrameSplitter(100).push(chunk);
    expect(frames.map(String)).toEqual(['one', 'two']);
    for (const f of frames) expect(f.buffer).toBe(chunk.buffer);
  });

  test('a frame spread over chunks is assembled in a buffer from the allocator, asked for its exact size', () => {
    const payload = Buffer.from('spread over three chunks');
    const stream = framed([payload, Buffer.from('next')]);
    const asked: number[] = [];
    const backing = Buffer.alloc(64);
    const splitter = new FrameSplitter(100, (size) => {
      asked.push(size);
      return backing.subarray(0, size);
    });
    const got = [...splitter.push(stream.subarray(0, 3)), ...splitter.push(stream.subarray(3, 10)), ...splitter.push(stream.subarray(10))];
    expect(got.map(String)).toEqual(['spread over three chunks', 'next']);
    expect(asked).toEqual([payload.length]);
    expect(got[0].buffer).toBe(backing.buffer);
  });

  test('an allocator that declines keeps only what arrived; the frame is copied in once it gives a buffer', () => {
    const payload = Buffer.alloc(100_000, 3);
    const stream = framed([payload]);
    let allow = false;
    const splitter = new FrameSplitter(1 << 20, (size) => (allow ? Buffer.alloc(size) : undefined));
    expect(splitter.push(stream.subarray(0, 1000))).toEqual([]);
    expect(splitter.awaitingBuffer).toBe(true);
    expect(splitter.heldBytes).toBe(1000);
    allow = true;
    expect(splitter.push(Buffer.alloc(0))).toEqual([]);
    expect(splitter.awaitingBuffer).toBe(false);
    expect(splitter.heldBytes).toBe(100_000);
    const frames = splitter.push(stream.subarray(1000));
    expect(frames).toHaveLength(1);
    expect(frames[0].equals(payload)).toBe(true);
    expect(splitter.heldBytes).toBe(0);
  });

  test('a frame that completes while the allocator declines is still returned whole', () => {
    const stream = framed([Buffer.from('declined but complete'), Buffer.from('next')]);
    const splitter = new FrameSplitter(100, () => undefined);
    const got = [...splitter.push(stream.subarray(0, 6)), ...splitter.push(stream.subarray(6))];
    expect(got.map(String)).toEqual(['declined but complete', 'next']);
  });

  test('a frame over the maximum is a FrameError, and the splitter then refuses input', () => {
    const splitter = new FrameSplitter(10);
    expect(splitter.push(framed([Buffer.alloc(10)]))).toHaveLength(1);
    const big = framed([Buffer.alloc(11)]);
    let err: unknown;
    try {
      splitter.push(big.subarray(0, 5));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FrameError);
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as FrameError).frameSizeBytes).toBe(11);
    expect((err as FrameError).message).toMatch(/11 bytes exceeds the maximum of 10/);
    expect(() => splitter.push(Buffer.alloc(1))).toThrow(FrameError);
  });

  test('a negative size is a FrameError even when its prefix arrives split', () => {
    const splitter = new FrameSplitter(1 << 20);
    expect(splitter.push(Buffer.from([0xff, 0xff]))).toEqual([]);
    expect(() => splitter.push(Buffer.from([0xff, 0xfe, 1, 2]))).toThrow(/frame size -2 is negative/);
  });

  test('a 2 GiB size claim is rejected before anything is buffered for it', () => {
    const splitter = new FrameSplitter(100 * 1024 * 1024);
    expect(() => splitter.push(Buffer.from([0x7f, 0xff, 0xff, 0xff, 0]))).toThrow(FrameError);
  });

  test('many small frames in one large chunk split in linear time', () => {
    const payloads = Array.from({ length: 50000 }, (_, i) => Buffer.from(String(i)));
    const stream = framed(payloads);
    const started = Date.now();
    const frames = new FrameSplitter(100).push(stream);
    expect(frames).toHaveLength(50000);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  test('a large frame arriving in many small chunks is copied once, not quadratically', () => {
    const payload = Buffer.alloc(8 * 1024 * 1024, 7);
    const stream = framed([payload]);
    const splitter = new FrameSplitter(16 * 1024 * 1024);
    const started = Date.now();
    let frames: Buffer[] = [];
    for (let at = 0; at < stream.length; at += 1000) frames = frames.concat(splitter.push(stream.subarray(at, at + 1000)));
    expect(frames).toHaveLength(1);
    expect(frames[0].equals(payload)).toBe(true);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
