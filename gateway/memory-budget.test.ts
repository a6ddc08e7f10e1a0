import { MemoryBudget } from './memory-budget';

describe('the shared memory budget', () => {
  it('hands out bytes up to its bound, then queues askers first come first served', () => {
    const budget = new MemoryBudget(100);
    expect(budget.tryTake(60)).toBe(true);
    expect(budget.tryTake(50)).toBe(false);
    const granted: string[] = [];
    budget.wait(50, () => granted.push('large'));
    // A small ask that would fit does not overtake the large one ahead of it.
    expect(budget.tryTake(10)).toBe(false);
    budget.wait(10, () => granted.push('small'));
    budget.give(60);
    expect(granted).toEqual(['large', 'small']);
    expect(budget.used).toBe(60);
    budget.give(60);
    expect(budget.used).toBe(0);
  });

  it('serves an ask larger than the bound alone rather than never', () => {
    const budget = new MemoryBudget(100);
    expect(budget.tryTake(150)).toBe(true);
    expect(budget.tryTake(0)).toBe(false);
    budget.give(150);
    expect(budget.tryTake(0)).toBe(true);
  });

  it('counts bytes already held past the bound, and room comes back only below it', () => {
    const budget = new MemoryBudget(100);
    budget.force(120);
    let room = false;
    budget.wait(0, () => (room = true));
    budget.give(20);
    expect(room).toBe(false);
    budget.give(1);
    expect(room).toBe(true);
  });

  it('take() gives up after its timeout and leaves the queue', async () => {
    const budget = new MemoryBudget(100);
    budget.force(100);
    expect(await budget.take(10, 20)).toBe(false);
    expect(budget.waiting).toBe(0);
    const later = budget.take(10, 5000);
    budget.give(100);
    expect(await later).toBe(true);
    expect(budget.used).toBe(10);
  });

  it('refuses to give back more than it handed out', () => {
    const budget = new MemoryBudget(100);
    budget.force(5);
    expect(() => budget.give(6)).toThrow(/more than it handed out/);
  });
});
