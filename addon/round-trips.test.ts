// The machine's round trip between two processes, measured in native code
// against a forked child that echoes: every sample is a real round trip, and
// the child is gone when the call returns.
import * as fs from 'fs';
import { measureRoundTrips } from './round-trips';

/** This process's live children, as the kernel lists them. */
function children(): string[] {
  return fs.readFileSync(`/proc/self/task/${process.pid}/children`, 'utf8').trim().split(/\s+/).filter((pid) => pid !== '');
}

describe('measureRoundTrips', () => {
  it('times each round trip with a forked echoing child, and reaps the child', () => {
    const before = children();
    const micros = measureRoundTrips(2000);
    expect(micros).toHaveLength(2000);
    // A round trip is two system calls and a wake-up each way: never free, never a second.
    for (const us of micros) {
      expect(us).toBeGreaterThan(0);
      expect(us).toBeLessThan(1_000_000);
    }
    expect(children()).toEqual(before);
  });

  it('refuses a count it cannot measure', () => {
    for (const count of [0, -1, 1.5, Number.NaN, 1e8]) expect(() => measureRoundTrips(count)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
  });
});
