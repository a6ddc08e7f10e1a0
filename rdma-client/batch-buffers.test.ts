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

  it('makes room for a buffer given back by letting the least recently given back go, so the sizes in use stay pooled', () => {
    const pool = new BatchBuffers(4 << 20);
    // Used once each and given back: they fill the bound.
    const odd = [pool.take(1 << 20), pool.take(3 << 19), pool.take(1 << 19), pool.take(1 << 20)];
    odd.forEach((b) => pool.give(b));
    expect(pool.idleBytes).toBe(4 << 20);
    // The size in use now: each one given back must come back on the next take, not a fresh buffer.
    let answer = pool.take(2 << 20);
    for (let i = 0; i < 5; i++) {
      pool.give(answer);
      const next = pool.take(2 << 20);
      expect(next.buffer).toBe(answer.buffer);
      answer = next;
    }
    pool.give(answer);
    expect(pool.idleBytes).toBeLessThanOrEqual(4 << 20);
    // The least recently given back went first: the first 1 MiB and the 1.5 MiB; the 0.5 MiB and the second 1 MiB stay.
    expect(pool.take(1 << 19).buffer).toBe(odd[2].buffer);
    expect(pool.take(1 << 20).buffer).toBe(odd[3].buffer);
    expect(pool.take(1 << 20).buffer).not.toBe(odd[0].buffer);
    expect(pool.take(3 << 19).buffer).not.toBe(odd[1].buffer);
    // One larger than the bound is never kept.
    const huge = pool.take(5 << 20);
    pool.give(huge);
    expect(pool.take(5 << 20).buffer).not.toBe(huge.buffer);
  });

  it('takes the smallest idle buffer up to twice the size asked when none of its own size is idle', () => {
    const pool = new BatchBuffers(64 << 20);
    const eight = pool.take(8 << 20);
    const twelve = pool.take(12 << 20);
    pool.give(twelve);
    pool.give(eight);
    // 5.5 MiB (a read cut short at a segment's end): the 8 MiB one, not fresh memory and not the 12.
    const odd = pool.take(5.5 * (1 << 20));
    expect(odd.length).toBe(5.5 * (1 << 20));
    expect(odd.buffer).toBe(eight.buffer);
    expect(pool.idleBytes).toBe(twelve.buffer.byteLength);
    // Given back, it is an 8 MiB buffer again.
    pool.give(odd);
    expect(pool.take(8 << 20).buffer).toBe(eight.buffer);
    // Nothing up to twice 4 MiB is idle (the 12 MiB one is more): fresh.
    expect(pool.take(4 << 20).buffer).not.toBe(twelve.buffer);
  });
});
