// send()'s batch buffers: exact sizes out, the same memory back once given,
// never one buffer to two batches, a bound on what is kept idle.
import { BatchBuffers, batchBufferCapacity, POOLED_BATCH_BYTES_MIN } from './batch-buffers';

describe('BatchBuffers', () => {
  it('rounds a pooled size up to one of eight steps per power of two, wasting at most an eighth', () => {
    expect(batchBufferCapacity(1000)).toBe(1000);
    expect(batchBufferCapacity(POOLED_BATCH_BYTES_MIN)).toBe(POOLED_BATCH_BYTES_MIN);
    expect(batchBufferCapacity((1 << 20) + 61)).toBe((1 << 20) + (1 << 17));
    for (const bytes of [65_537, 100_000, 1_048_637, 3_000_000, 9_999_999]) {
      const capacity = batchBufferCapacity(bytes);
      expect(capacity).toBeGreaterThanOrEqual(bytes);
      expect(capacity - bytes).toBeLessThanOrEqual(bytes / 8);
    }
  });

  it('hands out exactly the size asked, and the same memory again once it is given back', () => {
    const pool = new BatchBuffers(16 << 20);
    const first = pool.take(300_000);
    expect(first.length).toBe(300_000);
    first.fill(1);
    pool.give(first);
    expect(pool.idleBytes).toBe(batchBufferCapacity(300_000));
    // Another size of the same class reuses it.
    const second = pool.take(310_000);
    expect(second.length).toBe(310_000);
    expect(second.buffer).toBe(first.buffer);
    expect(pool.idleBytes).toBe(0);
  });

  it('never gives one buffer to two batches: one given back twice is kept once, one still out is not reused', () => {
    const pool = new BatchBuffers(16 << 20);
    const a = pool.take(200_000);
    const b = pool.take(200_000);
    expect(b.buffer).not.toBe(a.buffer);
    pool.give(a);
    pool.give(a);
    const c = pool.take(200_000);
    const d = pool.take(200_000);
    expect(c.buffer).toBe(a.buffer);
    expect(d.buffer).not.toBe(a.buffer);
    expect(d.buffer).not.toBe(b.buffer);
  });

  it('keeps no buffer it did not make, no small one, nor more idle bytes than its bound', () => {
    const pool = new BatchBuffers(1 << 20);
    pool.give(Buffer.allocUnsafeSlow(200_000));
    const small = pool.take(1000);
    pool.give(small);
    expect(pool.idleBytes).toBe(0);
    const big = Array.from({ length: 4 }, () => pool.take(400_000));
    big.forEach((b) => pool.give(b));
    expect(pool.idleBytes).toBeLessThanOrEqual(1 << 20);
    expect(pool.idleBytes).toBe(2 * batchBufferCapacity(400_000));
    pool.clear();
    expect(pool.idleBytes).toBe(0);
  });
});
