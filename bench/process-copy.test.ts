// The fast path's ceiling on a host without an RDMA NIC: copies between this
// process and a child by the kernel (CMA). The measurement checks that the
// bytes really moved each way; here only that it runs and reports both.
import { fillPattern, measureProcessCopyMBps } from './process-copy';

describe('the copy between processes (the fast path ceiling)', () => {
  it('copies a child process\'s buffer into a region and back, and reports MB/s of each direction', async () => {
    for (const sizeBytes of [8 << 10, 1 << 20]) {
      const { put, get } = await measureProcessCopyMBps(sizeBytes, 0.05);
      expect(put).toBeGreaterThan(0);
      expect(get).toBeGreaterThan(0);
    }
  }, 60_000);

  it('gives each seed its own bytes, so a copy of stale bytes fails the check', () => {
    const [a, b] = [Buffer.alloc(4096), Buffer.alloc(4096)];
    fillPattern(a, 7);
    fillPattern(b, 8);
    expect(a.equals(b)).toBe(false);
    const again = Buffer.alloc(4096);
    fillPattern(again, 7);
    expect(again.equals(a)).toBe(true);
  });
});
