import { Extent, ExtentAllocator } from './extent-allocator';

/** A tiny deterministic generator, so a failing sequence can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0);
}

describe('ExtentAllocator', () => {
  it('hands out disjoint runs from a fresh region and says when none is long enough', () => {
    const slots = new ExtentAllocator(10);
    expect([slots.take(3), slots.take(3), slots.take(3)]).toEqual([0, 3, 6]);
    expect(slots.take(2)).toBeUndefined();
    expect(slots.take(1)).toBe(9);
    expect([slots.freeSlots, slots.largestFreeExtent]).toEqual([0, 0]);
  });

  it('merges a released run with both neighbours, so a long run can be taken again', () => {
    const slots = new ExtentAllocator(9);
    const [a, b, c] = [slots.take(3)!, slots.take(3)!, slots.take(3)!];
    slots.release({ firstSlot: a, slotCount: 3 });
    slots.release({ firstSlot: c, slotCount: 3 });
    expect(slots.free()).toEqual([
      { firstSlot: 0, slotCount: 3 },
      { firstSlot: 6, slotCount: 3 },
    ]);
    expect(slots.take(4)).toBeUndefined();
    slots.release({ firstSlot: b, slotCount: 3 });
    expect(slots.free()).toEqual([{ firstSlot: 0, slotCount: 9 }]);
    expect(slots.take(9)).toBe(0);
  });

  it('takes from the smallest run that fits, keeping long runs whole for large segments', () => {
    const slots = new ExtentAllocator(20, [
      { firstSlot: 4, slotCount: 1 },
      { firstSlot: 7, slotCount: 1 },
    ]);
    // Free: [0,4) [5,7) [8,20)
    expect(slots.take(2)).toBe(5);
    expect(slots.take(3)).toBe(0);
    expect(slots.largestFreeExtent).toBe(12);
  });

  it('is rebuilt from the runs in use, in any order', () => {
    const slots = new ExtentAllocator(10, [
      { firstSlot: 6, slotCount: 2 },
      { firstSlot: 0, slotCount: 1 },
    ]);
    expect(slots.free()).toEqual([
      { firstSlot: 1, slotCount: 5 },
      { firstSlot: 8, slotCount: 2 },
    ]);
    expect(slots.freeSlots).toBe(7);
  });

  it('refuses overlapping runs in use, runs outside the region, and a double release', () => {
    expect(() => new ExtentAllocator(10, [{ firstSlot: 0, slotCount: 3 }, { firstSlot: 2, slotCount: 1 }])).toThrow(/overlaps/);
    expect(() => new ExtentAllocator(10, [{ firstSlot: 8, slotCount: 3 }])).toThrow(/not inside the 10 slots/);
    const slots = new ExtentAllocator(10);
    const a = slots.take(4)!;
    slots.release({ firstSlot: a, slotCount: 4 });
    expect(() => slots.release({ firstSlot: a + 1, slotCount: 1 })).toThrow(/already partly free/);
    expect(() => slots.take(0)).toThrow(/at least 1/);
  });

  it('never hands out a slot twice and accounts every slot, over thousands of random takes and releases', () => {
    const total = 500;
    const next = random(7);
    const slots = new ExtentAllocator(total);
    const owner = new Array<number>(total).fill(-1);
    const held: Extent[] = [];
    for (let step = 0; step < 4000; step++) {
      if (held.length > 0 && next() % 3 === 0) {
        const extent = held.splice(next() % held.length, 1)[0];
        for (let s = extent.firstSlot; s < extent.firstSlot + extent.slotCount; s++) owner[s] = -1;
        slots.release(extent);
      } else {
        const count = 1 << (next() % 6);
        const first = slots.take(count);
        if (first === undefined) {
          expect(slots.largestFreeExtent).toBeLessThan(count);
          continue;
        }
        for (let s = first; s < first + count; s++) {
          expect(owner[s]).toBe(-1);
          owner[s] = step;
        }
        held.push({ firstSlot: first, slotCount: count });
      }
      if (step % 500 === 0) expect(slots.freeSlots).toBe(owner.filter((o) => o === -1).length);
    }
    // Free runs are never adjacent: the allocator merged every neighbour.
    const free = slots.free();
    for (let i = 1; i < free.length; i++) expect(free[i].firstSlot).toBeGreaterThan(free[i - 1].firstSlot + free[i - 1].slotCount);
  });
});
