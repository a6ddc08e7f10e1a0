import { ConsumptionLedger } from './ledger';

describe('the consumption ledger', () => {
  it('counts records per partition by offset: repeats are duplicates, jumps are missing records', () => {
    const ledger = new ConsumptionLedger();
    ledger.add(0, 0n, 10, 100);
    ledger.add(1, 0n, 5, 50);
    ledger.add(0, 10n, 10, 100);
    expect(ledger.snapshot()).toEqual({ bytes: 250, records: 25, duplicates: 0, missing: 0 });
    ledger.add(0, 15n, 10, 100); // 15..19 again, 20..24 new
    ledger.add(1, 8n, 2, 20); // 5..7 skipped
    expect(ledger.snapshot()).toEqual({ bytes: 370, records: 37, duplicates: 5, missing: 3 });
  });

  it('without offsets (kcat) it counts bytes and records and claims nothing about duplicates', () => {
    const ledger = new ConsumptionLedger();
    ledger.addUnordered(3, 3000);
    expect(ledger.snapshot()).toEqual({ bytes: 3000, records: 3 });
  });

  it('reach() waits for the bytes, and fails when a consumer fails or nothing arrives for the idle bound', async () => {
    const ledger = new ConsumptionLedger();
    const reached = ledger.reach(200, 5000);
    ledger.add(0, 0n, 1, 100);
    ledger.add(0, 1n, 1, 100);
    await expect(reached).resolves.toBeUndefined();

    const failing = new ConsumptionLedger();
    const waiting = failing.reach(100, 5000);
    failing.fail(new Error('consumer crashed'));
    await expect(waiting).rejects.toThrow('consumer crashed');

    const idle = new ConsumptionLedger();
    idle.add(0, 0n, 1, 10);
    await expect(idle.reach(100, 50)).rejects.toThrow(/read 10 of 100 bytes \(next offset by partition: 0 at 1\), then nothing for/);
  });
});

describe('the consumption ledger with independent readers (--fanout)', () => {
  it('counts each reader apart: the same offsets from two readers are no duplicates, a repeat within one reader is', () => {
    const ledger = new ConsumptionLedger();
    ledger.add(0, 0n, 10, 100, 0);
    ledger.add(0, 0n, 10, 100, 1);
    ledger.add(0, 10n, 10, 100, 1);
    expect(ledger.snapshot()).toEqual({ bytes: 300, records: 30, duplicates: 0, missing: 0, recordsByReader: [10, 20] });
    ledger.add(0, 5n, 5, 50, 1); // reader 1 again at 5..9
    ledger.add(0, 12n, 3, 30, 0); // reader 0 skips 10, 11
    expect(ledger.snapshot()).toMatchObject({ duplicates: 5, missing: 2, recordsByReader: [13, 25] });
  });

  it('says where each reader stopped when nothing arrives', async () => {
    const ledger = new ConsumptionLedger();
    ledger.add(0, 0n, 1, 10, 0);
    ledger.add(0, 0n, 2, 20, 1);
    await expect(ledger.reach(100, 50)).rejects.toThrow(/read 30 of 100 bytes \(next offset by partition, reader 0: 0 at 1; reader 1: 0 at 2\)/);
  });
});
