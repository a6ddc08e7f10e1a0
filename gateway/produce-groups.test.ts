// The pure part of group commit: which waiting batches go together. The whole path (pipelined
// Produce requests against `rdmq start`) is in server.test.ts.
import { takeGroup } from './produce-groups';

const batch = (bytes: number, fill = 1) => ({ batch: Buffer.alloc(bytes, fill) });

describe('group commit', () => {
  it('takes the leading waiting batches within the byte bound, always at least one, in arrival order', () => {
    const waiting = [batch(400, 1), batch(500, 2), batch(200, 3), batch(100, 4)];
    expect(takeGroup(waiting, 1000).map((w) => w.batch[0])).toEqual([1, 2]);
    expect(takeGroup(waiting, 1000).map((w) => w.batch[0])).toEqual([3, 4]);
    expect(waiting).toHaveLength(0);
    const large = [batch(5000, 7), batch(10, 8)];
    expect(takeGroup(large, 1000).map((w) => w.batch[0])).toEqual([7]);
  });
});
