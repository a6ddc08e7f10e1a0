import { afterMicroseconds, CommitBacklog, CommitGate, CommitPolicy } from './commit-gate';

/** A gate over a backlog the test sets, whose commits take the ready batches and settle when the test says. */
function gateWith(policy: Partial<CommitPolicy>) {
  const backlog: CommitBacklog = { ready: 0, putsInFlight: 0 };
  const commits: { took: number; settle(): void }[] = [];
  const gate = new CommitGate(
    { everyBatches: 1, delayUs: 0, inFlightMax: 1, ...policy },
    () => ({ ...backlog }),
    () =>
      new Promise<void>((resolve) => {
        commits.push({ took: backlog.ready, settle: resolve });
        backlog.ready = 0;
      }),
  );
  const settle = async (i: number): Promise<void> => {
    commits[i].settle();
    await new Promise((r) => setImmediate(r));
  };
  return { gate, backlog, commits, settle };
}

describe('CommitGate', () => {
  it('commits a lone batch at once', () => {
    const { gate, backlog, commits } = gateWith({});
    backlog.ready = 1;
    gate.poke();
    expect(commits.map((c) => c.took)).toEqual([1]);
  });

  it('batches that become ready while a commit is on its way go together in the next one', async () => {
    const { gate, backlog, commits, settle } = gateWith({});
    backlog.ready = 1;
    backlog.putsInFlight = 5;
    gate.poke();
    for (let i = 0; i < 5; i++) {
      backlog.ready++;
      backlog.putsInFlight--;
      gate.poke();
    }
    expect(commits.map((c) => c.took)).toEqual([1]);
    await settle(0);
    expect(commits.map((c) => c.took)).toEqual([1, 5]);
  });

  it('allows inFlightMax commits on their way at once', async () => {
    const { gate, backlog, commits } = gateWith({ inFlightMax: 2 });
    for (let i = 0; i < 3; i++) {
      backlog.ready++;
      gate.poke();
    }
    expect(commits.map((c) => c.took)).toEqual([1, 1]);
  });

  it('waits for everyBatches while puts are under way, and commits a short group once none is', async () => {
    const { gate, backlog, commits, settle } = gateWith({ everyBatches: 3 });
    backlog.putsInFlight = 2;
    backlog.ready = 1;
    gate.poke();
    backlog.ready = 2;
    backlog.putsInFlight = 1;
    gate.poke();
    expect(commits).toHaveLength(0);
    backlog.ready = 3;
    backlog.putsInFlight = 0;
    gate.poke();
    expect(commits.map((c) => c.took)).toEqual([3]);
    await settle(0);
    backlog.ready = 1;
    gate.poke();
    expect(commits.map((c) => c.took)).toEqual([3, 1]);
  });

  it('with a delay, holds a short group for that many microseconds, then commits it', async () => {
    const { gate, backlog, commits } = gateWith({ everyBatches: 10, delayUs: 3000 });
    const start = process.hrtime.bigint();
    backlog.ready = 2;
    gate.poke();
    expect(commits).toHaveLength(0);
    while (commits.length === 0) await new Promise((r) => setImmediate(r));
    const waitedUs = Number(process.hrtime.bigint() - start) / 1000;
    expect(waitedUs).toBeGreaterThanOrEqual(3000);
    expect(commits.map((c) => c.took)).toEqual([2]);
  });

  it('a full group does not wait for the delay', () => {
    const { gate, backlog, commits } = gateWith({ everyBatches: 2, delayUs: 1_000_000 });
    backlog.ready = 2;
    backlog.putsInFlight = 4;
    gate.poke();
    expect(commits.map((c) => c.took)).toEqual([2]);
    gate.close();
  });

  it('once closed commits nothing more: a poke does not send, nor does a commit settling, nor a delay running out', async () => {
    const { gate, backlog, commits, settle } = gateWith({ delayUs: 2000, everyBatches: 5 });
    backlog.ready = 5;
    gate.poke();
    expect(commits).toHaveLength(1);
    backlog.ready = 1;
    backlog.putsInFlight = 1;
    gate.poke(); // waits for the delay (and for the commit on its way)
    gate.close();
    await settle(0);
    backlog.ready = 5;
    gate.poke();
    await new Promise((r) => setTimeout(r, 10));
    expect(commits).toHaveLength(1);
  });
});

describe('afterMicroseconds', () => {
  it.each([200, 900, 2500])('fires no earlier than %i microseconds, and can be cancelled', async (us) => {
    const start = process.hrtime.bigint();
    const firedAfterUs = await new Promise<number>((resolve) => afterMicroseconds(us, () => resolve(Number(process.hrtime.bigint() - start) / 1000)));
    expect(firedAfterUs).toBeGreaterThanOrEqual(us);
    let fired = false;
    const cancel = afterMicroseconds(us, () => (fired = true));
    cancel();
    await new Promise((r) => setTimeout(r, 5 + us / 1000));
    expect(fired).toBe(false);
  });
});
