// Which gateway a Kafka client is sent to for what. Gateways are stateless
// (every one reaches every partition through the fast path, and forwards what
// needs the broker), so "leader" and "coordinator" only spread client load;
// every decision lives in this file.
//
// The broker keeps the live gateways in a GatewayRegistry: its own gateway,
// and each `rdmq gateway` for as long as its Join call stays open. Every
// answer is computed from that one list, so all gateways tell clients the
// same thing.

export interface GatewayNode {
  nodeId: number;
  host: string;
  port: number;
  rack: string | null;
  /** Each Kafka listener's advertised address (several listeners); host/port are the first's. */
  listeners?: { name: string; host: string; port: number }[];
}

/** Where a client that came in on `listenerName` reaches `node`: that listener's address, else the node's. */
export function addressOf(node: GatewayNode, listenerName: string): { host: string; port: number } {
  const listener = node.listeners?.find((l) => l.name === listenerName);
  return listener ? { host: listener.host, port: listener.port } : { host: node.host, port: node.port };
}

export interface Leadership {
  /** The gateways advertised in Metadata and DescribeCluster, by node id. */
  nodes(): readonly GatewayNode[];
  /** The gateway that "leads" a partition. */
  partitionLeader(topicId: number, partition: number): GatewayNode;
  /** The gateway that coordinates a consumer group. */
  groupCoordinator(groupId: string): GatewayNode;
  /** The node Metadata names as controller. */
  controller(): GatewayNode;
}

/** Spreads partitions over the gateways by (topic id, partition); groups by a hash of the id. */
export function leadershipOver(list: () => readonly GatewayNode[]): Leadership {
  const current = (): readonly GatewayNode[] => {
    const nodes = list();
    if (nodes.length === 0) throw new RangeError('leadership needs at least one gateway node');
    return nodes;
  };
  const pick = (n: number): GatewayNode => {
    const nodes = current();
    return nodes[((n % nodes.length) + nodes.length) % nodes.length];
  };
  return {
    nodes: list,
    partitionLeader: (topicId, partition) => pick(topicId + partition),
    groupCoordinator: (groupId) => pick(hashString(groupId)),
    controller: () => current()[0],
  };
}

export function staticLeadership(nodes: readonly GatewayNode[]): Leadership {
  if (nodes.length === 0) throw new RangeError('leadership needs at least one gateway node');
  const sorted = [...nodes].sort((a, b) => a.nodeId - b.nodeId);
  return leadershipOver(() => sorted);
}

/** An address that means "every interface": fine to listen on, useless to connect to. */
function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

/** Clients cannot connect to a wildcard address: advertise loopback instead. */
export function advertisable(host: string): string {
  return isWildcard(host) ? '127.0.0.1' : host;
}

/** Another live gateway has the node id asked for. */
export class NodeIdTakenError extends RangeError {}

export const MAX_NODE_ID = 0x7fffffff;

/** The live gateways of one broker. */
export class GatewayRegistry {
  private readonly byId = new Map<number, GatewayNode>();
  private sorted: GatewayNode[] = [];
  readonly leadership = leadershipOver(() => this.sorted);

  nodes(): readonly GatewayNode[] {
    return this.sorted;
  }

  /**
   * Adds a gateway; `nodeId` undefined takes the lowest free id. Throws when
   * the id is taken or the address is not one a client can reach. Returns
   * the node as registered and a function that removes it (idempotent).
   */
  add(node: Omit<GatewayNode, 'nodeId'> & { nodeId?: number }): { node: GatewayNode; remove(): void } {
    if (isWildcard(node.host)) throw new RangeError(`gateway host "${node.host}" is not an address clients can connect to`);
    if (!Number.isInteger(node.port) || node.port < 1 || node.port > 65535) throw new RangeError(`gateway port must be 1..65535, got ${node.port}`);
    let nodeId = node.nodeId;
    if (nodeId === undefined) {
      nodeId = 0;
      while (this.byId.has(nodeId)) nodeId++;
    } else if (!Number.isInteger(nodeId) || nodeId < 0 || nodeId > MAX_NODE_ID) {
      throw new RangeError(`gateway node id must be an integer 0..${MAX_NODE_ID}, got ${nodeId}`);
    } else if (this.byId.has(nodeId)) {
      const other = this.byId.get(nodeId)!;
      throw new NodeIdTakenError(`gateway node id ${nodeId} is taken by the gateway at ${other.host}:${other.port}`);
    }
    const registered: GatewayNode = { nodeId, host: node.host, port: node.port, rack: node.rack, ...(node.listeners ? { listeners: node.listeners.map((l) => ({ ...l })) } : {}) };
    this.byId.set(nodeId, registered);
    this.changed();
    let removed = false;
    return {
      node: registered,
      remove: () => {
        if (removed) return;
        removed = true;
        this.byId.delete(nodeId!);
        this.changed();
      },
    };
  }

  private changed(): void {
    this.sorted = [...this.byId.values()].sort((a, b) => a.nodeId - b.nodeId);
  }
}

function hashString(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h >>> 0;
}
