// Free runs of slots in a region, best fit. Pure bookkeeping in memory: the
// region itself is the record (segment headers say which slots are in use), so
// the store rebuilds this at every open from the slots its recovery walk found
// in use. Not safe to share across worker threads.

export interface Extent {
  firstSlot: number;
  slotCount: number;
}

export class ExtentAllocator {
  /** Free extents sorted by first slot; neighbours are always merged. */
  private readonly freeExtents: Extent[] = [];
  private freeSlotTotal = 0;

  /** `used` may come in any order; extents must lie inside [0, slotCount) and not overlap. */
  constructor(
    readonly slotCount: number,
    used: readonly Extent[] = [],
  ) {
    if (!Number.isSafeInteger(slotCount) || slotCount < 0) throw new RangeError(`slot count ${slotCount} must be an integer ≥ 0`);
    const sorted = [...used].sort((a, b) => a.firstSlot - b.firstSlot);
    let next = 0;
    for (const extent of sorted) {
      checkExtent(extent, slotCount);
      if (extent.firstSlot < next) throw new RangeError(`extent at slot ${extent.firstSlot} overlaps the one before it (ends at ${next})`);
      if (extent.firstSlot > next) this.appendFree(next, extent.firstSlot - next);
      next = extent.firstSlot + extent.slotCount;
    }
    if (next < slotCount) this.appendFree(next, slotCount - next);
  }

  get freeSlots(): number {
    return this.freeSlotTotal;
  }

  /** The longest run a single `take` can still succeed with. */
  get largestFreeExtent(): number {
    let largest = 0;
    for (const e of this.freeExtents) largest = Math.max(largest, e.slotCount);
    return largest;
  }

  /**
   * Takes `slotCount` contiguous slots from the smallest free extent that holds
   * them (the lowest one among equals), so large runs stay whole for large
   * segments. Undefined when no free extent is long enough.
   */
  take(slotCount: number): number | undefined {
    if (!Number.isSafeInteger(slotCount) || slotCount < 1) throw new RangeError(`cannot take ${slotCount} slots; take at least 1`);
    let best = -1;
    for (let i = 0; i < this.freeExtents.length; i++) {
      const e = this.freeExtents[i];
      if (e.slotCount >= slotCount && (best < 0 || e.slotCount < this.freeExtents[best].slotCount)) best = i;
    }
    if (best < 0) return undefined;
    const extent = this.freeExtents[best];
    const firstSlot = extent.firstSlot;
    if (extent.slotCount === slotCount) this.freeExtents.splice(best, 1);
    else this.freeExtents[best] = { firstSlot: firstSlot + slotCount, slotCount: extent.slotCount - slotCount };
    this.freeSlotTotal -= slotCount;
    return firstSlot;
  }

  /** Returns slots taken earlier; freeing a slot that is already free is a bug and throws. */
  release(extent: Extent): void {
    checkExtent(extent, this.slotCount);
    const end = extent.firstSlot + extent.slotCount;
    const i = this.insertionIndex(extent.firstSlot);
    const before = this.freeExtents[i - 1];
    const after = this.freeExtents[i];
    if ((before && before.firstSlot + before.slotCount > extent.firstSlot) || (after && after.firstSlot < end)) {
      throw new RangeError(`slots [${extent.firstSlot}, ${end}) are already partly free`);
    }
    const mergesBefore = before !== undefined && before.firstSlot + before.slotCount === extent.firstSlot;
    const mergesAfter = after !== undefined && after.firstSlot === end;
    if (mergesBefore && mergesAfter) {
      this.freeExtents.splice(i - 1, 2, { firstSlot: before.firstSlot, slotCount: before.slotCount + extent.slotCount + after.slotCount });
    } else if (mergesBefore) {
      this.freeExtents[i - 1] = { firstSlot: before.firstSlot, slotCount: before.slotCount + extent.slotCount };
    } else if (mergesAfter) {
      this.freeExtents[i] = { firstSlot: extent.firstSlot, slotCount: extent.slotCount + after.slotCount };
    } else {
      this.freeExtents.splice(i, 0, { firstSlot: extent.firstSlot, slotCount: extent.slotCount });
    }
    this.freeSlotTotal += extent.slotCount;
  }

  /** A copy of the free extents, in slot order. */
  free(): Extent[] {
    return this.freeExtents.map((e) => ({ ...e }));
  }

  private appendFree(firstSlot: number, slotCount: number): void {
    this.freeExtents.push({ firstSlot, slotCount });
    this.freeSlotTotal += slotCount;
  }

  /** Index of the first free extent starting after `slot`. */
  private insertionIndex(slot: number): number {
    let lo = 0;
    let hi = this.freeExtents.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.freeExtents[mid].firstSlot <= slot) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function checkExtent(extent: Extent, slotCount: number): void {
  const { firstSlot, slotCount: count } = extent;
  if (!Number.isSafeInteger(firstSlot) || !Number.isSafeInteger(count) || firstSlot < 0 || count < 1 || firstSlot + count > slotCount) {
    throw new RangeError(`extent [${firstSlot}, +${count}) is not inside the ${slotCount} slots`);
  }
}
