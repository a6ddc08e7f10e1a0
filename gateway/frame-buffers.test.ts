import { classCapacity, FrameBufferPool, POOLED_FRAME_BYTES_MIN } from './frame-buffers';

const MiB = 1024 * 1024;

describe('the frame buffer pool', () => {
  it('lends the buffer of a finished frame again to the next frame of its size class', () => {
    const pool = new FrameBufferPool(16 * MiB);
    const first = pool.acquire(MiB - 100);
    expect(first.length).toBe(MiB - 100);
    pool.release(first);
    expect(pool.heldBytes).toBe(MiB);
    const second = pool.acquire(MiB - 5000);
    expect(second.buffer).toBe(first.buffer);
    expect(second.length).toBe(MiB - 5000);
    expect(pool.heldBytes).toBe(0);
  });

  it('does not lend one buffer to two frames at once', () => {
    const pool = new FrameBufferPool(16 * MiB);
    const a = pool.acquire(MiB);
    const b = pool.acquire(MiB);
    expect(b.buffer).not.toBe(a.buffer);
  });

  it('takes back a buffer only once, and ignores buffers it did not lend', () => {
    const pool = new FrameBufferPool(16 * MiB);
    const lent = pool.acquire(MiB);
    pool.release(lent.subarray(10, 20));
    pool.release(lent);
    expect(pool.heldBytes).toBe(MiB);
    pool.release(Buffer.alloc(MiB));
    pool.release(Buffer.alloc(100));
    expect(pool.heldBytes).toBe(MiB);
  });

  it('leaves small frames and anything beyond its bound to the GC', () => {
    const pool = new FrameBufferPool(2 * MiB);
    const small = pool.acquire(POOLED_FRAME_BYTES_MIN - 1);
    pool.release(small);
    expect(pool.heldBytes).toBe(0);
    const frames = [pool.acquire(MiB), pool.acquire(MiB), pool.acquire(MiB)];
    for (const f of frames) pool.release(f);
    expect(pool.heldBytes).toBe(2 * MiB);
  });

  it('rounds sizes up to one of eight classes per power of two', () => {
    expect(classCapacity(MiB)).toBe(MiB);
    expect(classCapacity(MiB + 1)).toBe(MiB + 128 * 1024);
    expect(classCapacity(MiB - 1)).toBe(MiB);
    expect(classCapacity(100_000)).toBe(106_496);
    for (const size of [65_536, 99_999, 1_500_000, 8 * MiB + 3]) {
      expect(classCapacity(size)).toBeGreaterThanOrEqual(size);
      expect(classCapacity(size)).toBeLessThanOrEqual(size * 1.125 + 1);
    }
  });
});
