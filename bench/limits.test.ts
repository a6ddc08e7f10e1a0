// The median that the client ceilings are taken as: one run of a ceiling can be
// several times off the next on a busy two-core VM.
import { measureTcpLoopbackMBps, median, medianOf } from './limits';

describe('median', () => {
  it('is the middle value of an odd count and the mean of the middle two of an even one, whatever the order', () => {
    expect(median([656, 254, 210])).toBe(254);
    expect(median([3, 1, 4, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
  });

  it('has no value for no measurements', () => {
    expect(() => median([])).toThrow(RangeError);
  });

  it('medianOf measures the given number of times, one after the other', async () => {
    const seen: number[] = [];
    let running = 0;
    const value = await medianOf(3, async () => {
      running++;
      expect(running).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running--;
      seen.push(seen.length * 100 + 10);
      return seen[seen.length - 1];
    });
    expect(seen).toEqual([10, 110, 210]);
    expect(value).toBe(110);
  });
});

describe('measureTcpLoopbackMBps', () => {
  it('measures the MB/s one child process pushes to another', async () => {
    const mbps = await measureTcpLoopbackMBps(1 << 20, 0.5);
    expect(mbps).toBeGreaterThan(10);
    expect(Number.isFinite(mbps)).toBe(true);
  });
});
