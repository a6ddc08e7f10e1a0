import { parseGatewayLimits } from './config';
import { staticLeadership } from './leadership';

describe('gateway limits', () => {
  it('default to Kafka-like bounds', () => {
    const limits = parseGatewayLimits();
    expect(limits).toMatchObject({ maxFrameBytes: 100 * 1024 * 1024, idleTimeoutMs: 600_000, defaultPartitions: 1 });
  });

  it('refuse a bad value with one line naming the limit', () => {
    expect(() => parseGatewayLimits({ maxFrameBytes: 10 })).toThrow(/gateway limit maxFrameBytes/);
    expect(() => parseGatewayLimits({ defaultPartitions: 8, maxPartitionsPerTopic: 4 })).toThrow(/defaultPartitions must not exceed/);
    expect(() => parseGatewayLimits({ noSuchLimit: 1 } as never)).toThrow(/gateway limit/);
  });
});

describe('leadership', () => {
  it('with one gateway, it leads every partition and coordinates every group', () => {
    const node = { nodeId: 3, host: 'h', port: 9092, rack: null };
    const l = staticLeadership([node]);
    expect(l.partitionLeader(17, 4)).toBe(node);
    expect(l.groupCoordinator('any')).toBe(node);
    expect(l.controller()).toBe(node);
  });

  it('with several, partitions of a topic spread over all of them', () => {
    const nodes = [0, 1, 2].map((nodeId) => ({ nodeId, host: 'h', port: 9092 + nodeId, rack: null }));
    const l = staticLeadership(nodes);
    expect(new Set([0, 1, 2].map((p) => l.partitionLeader(5, p).nodeId))).toEqual(new Set([0, 1, 2]));
  });
});
