// Connection.open among several control addresses keeps looking for a leader
// while an election may be under way (leaderWaitMs). Its caller can end that
// search: an HA standby that is itself about to become the leader must not
// wait out the search for the leader it replaces.
import { freeLoopbackPort } from '../bench/cluster';
import { Connection } from './connection';

describe('Connection.open looking for a leader', () => {
  it('stops as soon as its signal aborts, with the signal\'s reason, though leaderWaitMs is far off', async () => {
    const nobody = [await freeLoopbackPort(), await freeLoopbackPort()].map((port) => `127.0.0.1:${port}`).join(',');
    const stop = new AbortController();
    const started = Date.now();
    setTimeout(() => stop.abort(new Error('the standby is stopping')), 300);
    await expect(Connection.open({ control: nobody, leaderWaitMs: 30_000, signal: stop.signal })).rejects.toThrow('the standby is stopping');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('without a signal, gives up after leaderWaitMs with the reason no broker answered', async () => {
    const nobody = [await freeLoopbackPort(), await freeLoopbackPort()].map((port) => `127.0.0.1:${port}`).join(',');
    await expect(Connection.open({ control: nobody, leaderWaitMs: 500 })).rejects.toThrow(/no rdmq broker answers at/);
  });
});
