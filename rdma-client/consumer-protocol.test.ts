// The consumer protocol bytes an SDK member exchanges with Kafka members of its
// group: kafkajs's own codec (AssignerProtocol) must read what we write and we
// must read what it writes, or a mixed group assigns nothing or fails.
import { AssignerProtocol } from 'kafkajs';
import { assignRoundRobin, decodeAssignment, decodeSubscription, encodeAssignment, encodeSubscription } from './consumer-protocol';
import { RdmqError } from './errors';

describe('the consumer protocol', () => {
  it('writes subscriptions and assignments kafkajs reads, and reads kafkajs\'s', () => {
    expect(AssignerProtocol.MemberMetadata.decode(encodeSubscription(['orders', 'payments']))).toMatchObject({ version: 0, topics: ['orders', 'payments'] });
    expect(decodeSubscription(AssignerProtocol.MemberMetadata.encode({ version: 1, topics: ['orders'], userData: Buffer.from('x') }))).toEqual(['orders']);
    const ours = new Map([
      ['orders', [0, 2]],
      ['payments', [1]],
    ]);
    expect(AssignerProtocol.MemberAssignment.decode(encodeAssignment(ours))).toMatchObject({ version: 0, assignment: { orders: [0, 2], payments: [1] } });
    const theirs = AssignerProtocol.MemberAssignment.encode({ version: 0, assignment: { orders: [3, 1] }, userData: Buffer.alloc(0) });
    expect(decodeAssignment(theirs)).toEqual(new Map([['orders', [3, 1]]]));
    // A member the leader left out gets no bytes at all.
    expect(decodeAssignment(Buffer.alloc(0))).toEqual(new Map());
  });

  it('refuses truncated bytes with an error that says where', () => {
    const bytes = encodeSubscription(['orders']);
    expect(() => decodeSubscription(bytes.subarray(0, bytes.length - 6))).toThrow(RdmqError);
    expect(() => decodeAssignment(Buffer.from([0, 0, 0x7f, 0xff, 0xff, 0xff]))).toThrow(/at most/);
  });

  it('deals every partition once, round-robin over the members sorted by id, only to subscribers', () => {
    const shares = assignRoundRobin(
      [
        { memberId: 'b', topics: ['orders', 'audit'] },
        { memberId: 'a', topics: ['orders'] },
      ],
      new Map([
        ['orders', 5],
        ['audit', 2],
      ]),
    );
    expect(shares.get('a')).toEqual(new Map([['orders', [0, 2, 4]]]));
    expect(shares.get('b')).toEqual(
      new Map([
        ['audit', [0, 1]],
        ['orders', [1, 3]],
      ]),
    );
  });
});
