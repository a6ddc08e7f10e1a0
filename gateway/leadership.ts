// Which gateway a Kafka client is sent to for what. Gateways are stateless
// (every one reaches every partition through the fast path), so "leader" only
// spreads client load; every decision lives in this file so that running
// several gateways later changes one function, not the handlers.

export interface GatewayNode {
  nodeId: number;
  host: string;
  port: number;
  rack: string | null;
}

export interface Leadership {
  /** The gateways advertised in Metadata and DescribeCluster. */
  nodes(): readonly GatewayNode[];
  /** The gateway that "leads" a partition. */
  partitionLeader(topicId: number, partition: number): GatewayNode;
  /** The gateway that coordinates a consumer group. */
  groupCoordinator(groupId: string): GatewayNode;
  /** The node Metadata names as controller. */
  controller(): GatewayNode;
}

/** Spreads partitions over the gateways by (topic id, partition); groups by a hash of the id. */
export function staticLeadership(nodes: readonly GatewayNode[]): Leadership {
  if (nodes.length === 0) throw new RangeError('leadership needs at least one gateway node');
  const pick = (n: number): GatewayNode => nodes[((n % nodes.length) + nodes.length) % nodes.length];
  return {
    nodes: () => nodes,
    partitionLeader: (topicId, partition) => pick(topicId + partition),
    // Groups live in the one in-process GroupCoordinator; with several gateways
    // this must name the gateway that shares its process.
    groupCoordinator: (groupId) => pick(hashString(groupId)),
    controller: () => nodes[0],
  };
}

function hashString(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h >>> 0;
}
