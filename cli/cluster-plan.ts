// The layout of a local multi-process cluster (`rdmq cluster start`): which
// members run, with which command line, on which ports and in which data
// directory. Pure: the launcher (cli/cluster.ts), the chaos topology and the
// bench read the same plan.
//
// Port layout from the base port P (default 19000), one block of ten ports
// per member, the same offsets in every block:
//
//   etcd (when brokers > 1)  P+0 client, P+1 peer
//   storage-K                P+100+10K: +0 control gRPC, +1 fast path (UCX), +2 metrics
//   broker-K                 P+200+10K: +0 control gRPC, +1 fast path, +2 metrics, +3 Kafka
//   gateway-K                P+300+10K: +2 metrics, +3 Kafka
//
// so at most 10 members of each role. With network namespaces every member
// has an address of its own (see scripts/netns.sh) and the same ports.
import * as path from 'path';

export type MemberRole = 'etcd' | 'storage' | 'broker' | 'gateway';

export interface ClusterSpec {
  storageNodes: number;
  brokers: number;
  gateways: number;
  dataDir: string;
  basePort: number;
  /** The brokers' default for new topics; undefined = min(storage nodes, 3). */
  replicationFactor?: number;
  regionSize: string;
  segmentSize: string;
  durability: 'none' | 'flush' | 'sync';
  /** The brokers' producer lease (--lease-timeout-ms); unset = rdmq's default. */
  leaseTimeoutMs?: number;
  /** Run each member in a network namespace of its own (scripts/netns.sh). */
  netns: boolean;
  /** The loopback host members listen on without namespaces. */
  host: string;
}

export interface MemberPlan {
  /** storage-0, broker-1, gateway-0, etcd */
  name: string;
  role: MemberRole;
  /** Its data directory, named on its command line (a gateway's holds nothing). */
  dataDir: string;
  /** The network namespace it runs in, when spec.netns. */
  netns?: string;
  /** Where it listens, as clients reach it. */
  host: string;
  addresses: { control?: string; fastpath?: string; metrics?: string; kafka?: string; etcdClient?: string; etcdPeer?: string };
  /** For `rdmq` members: the arguments after `rdmq`; for etcd: the arguments of /usr/bin/etcd. */
  args: string[];
}

export interface ClusterPlan {
  spec: ClusterSpec;
  members: MemberPlan[];
  /** Kafka addresses clients bootstrap from. */
  bootstrap: string[];
  /** The brokers' control addresses (the SDK's --control list). */
  control: string[];
  /** etcd's client URLs, when brokers > 1. */
  etcd: string[];
}

export const MAX_MEMBERS_PER_ROLE = 10;
export const DEFAULT_BASE_PORT = 19000;
const BLOCK = { storage: 100, broker: 200, gateway: 300 } as const;
/** Node ids of the cluster's `rdmq gateway` members: clear of the ids the brokers' own gateways take. */
const GATEWAY_NODE_ID_BASE = 100;
const PORT = { control: 0, fastpath: 1, metrics: 2, kafka: 3 } as const;
/** The first address of the namespaces' subnet; the host side of the bridge is .1 (scripts/netns.sh). */
export const NETNS_SUBNET = '10.213.0';
export const NETNS_HOST_ADDRESS = `${NETNS_SUBNET}.1`;
export const NETNS_PREFIX = 'rdmq-ns';
/** The bridge on the host's side: the device host-side UCX clients reach the namespaces on. */
export const NETNS_BRIDGE = 'rdmqbr0';

/** Settings for a fast-path client in the host's namespace talking to members in namespaces: UCX and the data links on TCP over the bridge. */
export const NETNS_CLIENT_UCX_ENV = { UCX_TLS: 'tcp', UCX_NET_DEVICES: NETNS_BRIDGE, RDMQ_LOCAL_DATA: 'off' } as const;

export class ClusterPlanError extends Error {
  readonly code = 'INVALID_CLUSTER_SPEC';
}

/** The namespace and address of the i-th member (0-based) when members run apart in namespaces. */
export function netnsSlot(i: number): { netns: string; address: string } {
  return { netns: `${NETNS_PREFIX}${i}`, address: `${NETNS_SUBNET}.${10 + i}` };
}

/** The secret of a local cluster, beside its members' data (made by `rdmq cluster start`). */
export function clusterSecretFileOf(dataDir: string): string {
  return path.join(dataDir, 'cluster-secret');
}

export function planCluster(spec: ClusterSpec): ClusterPlan {
  validate(spec);
  const P = spec.basePort;
  const members: MemberPlan[] = [];
  let slot = 0;
  const place = (): { host: string; netns?: string } => {
    if (!spec.netns) return { host: spec.host };
    const { netns, address } = netnsSlot(slot++);
    return { host: address, netns };
  };
  const at = (host: string, port: number): string => `${host}:${port}`;
  // Every member proves the secret `rdmq cluster start` made for this cluster. Namespaces put members off loopback
  // on a bridge private to this host: plaintext gRPC there is allowed on purpose (no certificates to hand out).
  const membership = ['--cluster-secret-file', clusterSecretFileOf(spec.dataDir), ...(spec.netns ? ['--allow-insecure'] : [])];
  const common = ['--durability', spec.durability, '--segment-size', spec.segmentSize, ...membership];

  let etcd: string[] = [];
  if (spec.brokers > 1) {
    // etcd stays in the host's namespace; members in namespaces reach it over the bridge.
    const host = spec.netns ? NETNS_HOST_ADDRESS : spec.host;
    const client = `http://${at(host, P)}`;
    const peer = `http://${at(host, P + 1)}`;
    etcd = [client];
    members.push({
      name: 'etcd',
      role: 'etcd',
      dataDir: path.join(spec.dataDir, 'etcd'),
      host,
      addresses: { etcdClient: client, etcdPeer: peer },
      args: [
        '--name', 'etcd-0', '--data-dir', path.join(spec.dataDir, 'etcd'),
        '--listen-client-urls', client, '--advertise-client-urls', client,
        '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
        '--initial-cluster', `etcd-0=${peer}`, '--initial-cluster-state', 'new',
      ],
    });
  }

  const storageControls: string[] = [];
  for (let k = 0; k < spec.storageNodes; k++) {
    const { host, netns } = place();
    const b = P + BLOCK.storage + 10 * k;
    const name = `storage-${k}`;
    const dataDir = path.join(spec.dataDir, name);
    const addresses = { control: at(host, b + PORT.control), fastpath: at(host, b + PORT.fastpath), metrics: at(host, b + PORT.metrics) };
    storageControls.push(addresses.control);
    members.push({
      name, role: 'storage', dataDir, netns, host, addresses,
      args: [
        'storage', '--data', dataDir, '--control', addresses.control, '--fastpath', addresses.fastpath, '--metrics', addresses.metrics,
        '--advertised-host', host, '--region-size', spec.regionSize, ...common,
      ],
    });
  }

  const controls: string[] = [];
  const brokerKafka: string[] = [];
  const replicationFactor = spec.replicationFactor ?? Math.min(spec.storageNodes, 3);
  for (let k = 0; k < spec.brokers; k++) {
    const { host, netns } = place();
    const b = P + BLOCK.broker + 10 * k;
    const name = `broker-${k}`;
    const dataDir = path.join(spec.dataDir, name);
    const addresses = { control: at(host, b + PORT.control), fastpath: at(host, b + PORT.fastpath), metrics: at(host, b + PORT.metrics), kafka: at(host, b + PORT.kafka) };
    controls.push(addresses.control);
    brokerKafka.push(addresses.kafka);
    members.push({
      name, role: 'broker', dataDir, netns, host, addresses,
      args: [
        'broker', '--data', dataDir, '--storage', storageControls.join(','),
        // Flags of the replication and HA work (issue 11): passed only where they change something,
        // so one storage node and one broker run on any rdmq.
        ...(etcd.length > 0 ? ['--etcd', etcd.join(',')] : []),
        ...(spec.storageNodes > 1 ? ['--default-replication-factor', String(replicationFactor)] : []),
        '--control', addresses.control, '--fastpath', addresses.fastpath, '--metrics', addresses.metrics, '--kafka', addresses.kafka,
        '--advertised-host', host, ...common,
        ...(spec.leaseTimeoutMs === undefined ? [] : ['--lease-timeout-ms', String(spec.leaseTimeoutMs)]),
      ],
    });
  }

  const gatewayKafka: string[] = [];
  for (let k = 0; k < spec.gateways; k++) {
    const { host, netns } = place();
    const b = P + BLOCK.gateway + 10 * k;
    const name = `gateway-${k}`;
    const addresses = { metrics: at(host, b + PORT.metrics), kafka: at(host, b + PORT.kafka) };
    gatewayKafka.push(addresses.kafka);
    // A gateway keeps nothing; its --data only names it on its command line, like every member.
    const dataDir = path.join(spec.dataDir, name);
    members.push({
      name, role: 'gateway', dataDir, netns, host, addresses,
      // The brokers' own Kafka gateways take the lowest free ids (the leader's 0, each standby's the next); these are 100 + k.
      args: ['gateway', '--data', dataDir, '--control', controls.join(','), '--kafka', addresses.kafka, '--metrics', addresses.metrics, '--advertised-host', host, '--node-id', String(GATEWAY_NODE_ID_BASE + k), ...membership],
    });
  }
  return { spec, members, bootstrap: spec.gateways > 0 ? gatewayKafka : brokerKafka, control: controls, etcd };
}

function validate(spec: ClusterSpec): void {
  const count = (name: string, n: number, min: number): void => {
    if (!Number.isInteger(n) || n < min || n > MAX_MEMBERS_PER_ROLE) throw new ClusterPlanError(`--${name} must be an integer ${min}..${MAX_MEMBERS_PER_ROLE}, got ${n}`);
  };
  count('storage-nodes', spec.storageNodes, 1);
  count('brokers', spec.brokers, 1);
  count('gateways', spec.gateways, 0);
  if (!Number.isInteger(spec.basePort) || spec.basePort < 1024 || spec.basePort + 400 > 65535) {
    throw new ClusterPlanError(`--base-port must be an integer 1024..65135 (the cluster uses P..P+399), got ${spec.basePort}`);
  }
  const r = spec.replicationFactor;
  if (r !== undefined && (!Number.isInteger(r) || r < 1 || r > spec.storageNodes)) {
    throw new ClusterPlanError(`--replication-factor must be an integer 1..${spec.storageNodes} (the storage nodes), got ${r}`);
  }
}
