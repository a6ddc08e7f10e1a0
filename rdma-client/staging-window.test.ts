// The producer's staging window: at most `depth` writes and `bytesMax` of
// their bytes between stage and commit, one larger write alone, first come
// first served.
import { STAGING_BYTES_DEFAULT, STAGING_DEPTH_DEFAULT, StagingWindow } from './producer';

/** Starts acquire(bytes) for each size and reports which have been granted after the microtasks ran. */
async function granted(window: StagingWindow, sizes: number[]): Promise<{ done: boolean[]; all: Promise<void>[] }> {
  const done = sizes.map(() => false);
  const all = sizes.map((bytes, i) => Promise.resolve(window.acquire(bytes)).then(() => void (done[i] = true)));
  await new Promise((resolve) => setImmediate(resolve));
  return { done, all };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('StagingWindow', () => {
  it('holds at most depth writes: the next waits for a release', async () => {
    const window = new StagingWindow(3, 1 << 30);
    const { done } = await granted(window, [10, 10, 10, 10]);
    expect(done).toEqual([true, true, true, false]);
    window.release(10);
    await settle();
    expect(done).toEqual([true, true, true, true]);
    expect(window.inFlight).toEqual({ writes: 3, bytes: 30 });
  });

  it('holds at most bytesMax of bytes, and a write larger than that only alone', async () => {
    const window = new StagingWindow(32, 8);
    const first = await granted(window, [4, 4, 1]);
    expect(first.done).toEqual([true, true, false]);
    window.release(4);
    await settle();
    expect(first.done).toEqual([true, true, true]);
    expect(window.inFlight).toEqual({ writes: 2, bytes: 5 });

    const large = await granted(window, [20]);
    expect(large.done).toEqual([false]);
    window.release(4);
    await settle();
    expect(large.done).toEqual([false]);
    window.release(1);
    await settle();
    expect(large.done).toEqual([true]);
    expect(window.inFlight).toEqual({ writes: 1, bytes: 20 });
  });

  it('lets no later write overtake one that waits, though it would fit', async () => {
    const window = new StagingWindow(32, 8);
    const { done } = await granted(window, [6, 4, 1]);
    // 4 does not fit beside 6; 1 would, but it came after 4.
    expect(done).toEqual([true, false, false]);
    window.release(6);
    await settle();
    expect(done).toEqual([true, true, true]);
  });

  it('defaults to 256 writes (32 shared) and 8 MiB: 8 batches of 1 MiB, 256 of 8 KiB (32 shared)', async () => {
    expect([STAGING_DEPTH_DEFAULT, STAGING_BYTES_DEFAULT]).toEqual([{ exclusive: 256, shared: 32 }, 8 << 20]);
    for (const mode of ['exclusive', 'shared'] as const) {
      const large = await granted(new StagingWindow(STAGING_DEPTH_DEFAULT[mode], STAGING_BYTES_DEFAULT), Array(12).fill(1 << 20));
      expect(large.done.filter(Boolean)).toHaveLength(8);
      const small = await granted(new StagingWindow(STAGING_DEPTH_DEFAULT[mode], STAGING_BYTES_DEFAULT), Array(300).fill(8 << 10));
      expect(small.done.filter(Boolean)).toHaveLength(mode === 'exclusive' ? 256 : 32);
    }
  });
});
