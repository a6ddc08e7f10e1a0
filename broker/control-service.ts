// The broker's gRPC control plane (broker/broker.proto): topic admin and
// where to find the fast path. Errors keep their Kafka error name in the
// `rdmq-error` metadata so clients can rethrow the same error.
import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import { isClusterMember, membershipInterceptor, serverCredentials, protoService } from '../control-plane';
import { Broker } from './broker';
import { GroupCoordinator } from './group-coordinator';
import { groupControlHandlers } from './group-control';
import { aclControlHandlers } from './security/acl-control';
import { FencedRange } from './partition-state';
import { BrokerError, TopicDescription } from './topics';
import { AclError, aclHost, AclOperation, AclResourceType, ANONYMOUS_PRINCIPAL, CLUSTER_RESOURCE_NAME } from './security/acls';

export const BROKER_PROTO_PATH = path.join(__dirname, '..', '..', 'broker', 'broker.proto');
export const ERROR_METADATA_KEY = 'rdmq-error';
/**
 * Only cluster members join or forward as gateways (gateway.proto), and only
 * they read or change users: GetCredential hands out StoredKey and ServerKey.
 */
const MEMBERS_ONLY_SERVICES = ['/rdmq.gateway.v1.GatewayHub/', '/rdmq.broker.v1.Users/'];
/** ACLs are managed and read (by gateways, for their cache) by members only: `rdmq acls` proves the secret. */
const MEMBERS_ONLY_METHODS = ['CreateAcls', 'DescribeAcls', 'DeleteAcls', 'GetAcls'].map((m) => `/rdmq.broker.v1.Broker/${m}`);
/** On a NOT_LEADER answer (an HA group's standby or deposed leader): the leader's control address, when known. */
export const LEADER_METADATA_KEY = 'rdmq-leader';

/** The retriable refusal of a broker that does not lead its HA group, naming the leader when known. */
export function notLeaderError(leader: string | undefined): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  metadata.set(ERROR_METADATA_KEY, 'NOT_LEADER');
  if (leader) metadata.set(LEADER_METADATA_KEY, leader);
  const message = leader ? `this broker does not lead its group; the leader is at ${leader}` : 'this broker does not lead its group and no leader is known yet (an election is under way); retry';
  return Object.assign(new Error(message), { code: grpc.status.UNAVAILABLE, details: message, metadata });
}

export function brokerService(): grpc.ServiceClientConstructor {
  return protoService(BROKER_PROTO_PATH, 'rdmq.broker.v1.Broker');
}

export interface ClusterInfo {
  clusterId: string;
  fastpathAddress: string;
  durability: string;
  segmentSizeBytes: number;
  storageFastpathAddress: string;
  /** --require-authentication: SDK sessions must authenticate first. */
  authenticationRequired?: boolean;
}

const STATUS_BY_ERROR: Record<string, grpc.status> = {
  UNKNOWN_TOPIC_OR_PARTITION: grpc.status.NOT_FOUND,
  TOPIC_ALREADY_EXISTS: grpc.status.ALREADY_EXISTS,
  INVALID_TOPIC_EXCEPTION: grpc.status.INVALID_ARGUMENT,
  INVALID_PARTITIONS: grpc.status.INVALID_ARGUMENT,
  INVALID_CONFIG: grpc.status.INVALID_ARGUMENT,
  INVALID_REQUEST: grpc.status.INVALID_ARGUMENT,
  POLICY_VIOLATION: grpc.status.FAILED_PRECONDITION,
};

function toServiceError(err: unknown): grpc.ServiceError {
  const name = err instanceof BrokerError ? err.code : err instanceof AclError ? 'INVALID_REQUEST' : 'UNKNOWN_SERVER_ERROR';
  const metadata = new grpc.Metadata();
  metadata.set(ERROR_METADATA_KEY, String(name));
  return Object.assign(new Error((err as Error).message), {
    code: STATUS_BY_ERROR[String(name)] ?? grpc.status.INTERNAL,
    details: (err as Error).message,
    metadata,
  }) as grpc.ServiceError;
}

function describe(broker: Broker, topic: TopicDescription): object {
  return {
    name: topic.name,
    topicId: topic.topicId,
    configs: Object.fromEntries(Object.entries(topic.configs).map(([k, v]) => [k, String(v)])),
    partitions: topic.partitions.map((p) => {
      const state = broker.partition(topic.topicId, p.partition).state;
      return {
        partition: p.partition,
        logStartOffset: state.logStartOffset().toString(),
        highWatermark: state.highWatermark().toString(),
        segments: state.segments().length,
        committedBytes: state.segments().reduce((sum, s) => sum + (s.commitPosition - s.startPosition), 0),
      };
    }),
  };
}

function fencedToWire(topic: string, partition: number, f: FencedRange): object {
  return { topic, partition, segmentId: String(f.segmentId), lost: f.lost, startPosition: f.startPosition, endPosition: f.endPosition, baseOffset: f.baseOffset.toString(), endOffset: f.endOffset.toString(), reason: f.reason };
}

type Handler = (call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>) => Promise<unknown> | unknown;

export function unary(fn: Handler): grpc.handleUnaryCall<Record<string, unknown>, unknown> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => fn(call))
      .then((value) => callback(null, value), (err) => callback(toServiceError(err)));
  };
}

export interface ControlServerOptions {
  /** Fast-path clients connected now, for GetStatus. */
  clients?: () => number;
  /** More services on the same address (the gateways' hub). */
  services?: { definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation }[];
  /** The live Kafka gateways, for GetStatus. */
  gateways?: () => readonly { nodeId: number; host: string; port: number }[];
  /** Largest request message (default 4 MiB; forwarded Kafka produces need their frame size). */
  maxReceiveMessageBytes?: number;
  /** The consumer-group coordinator the Kafka gateway uses too, for the SDK's groups (undefined: COORDINATOR_NOT_AVAILABLE). */
  groups?: () => GroupCoordinator | undefined;
  /** An HA leader's check: once it returns a value the term is over and every call is refused NOT_LEADER (naming `leader`). */
  deposed?: () => { leader?: string } | undefined;
  /** Where refused calls are reported. */
  log?: (message: string) => void;
}

export function refusedOnceDeposed(
  deposed: ControlServerOptions['deposed'],
  handlers: Record<string, grpc.handleUnaryCall<Record<string, unknown>, unknown>>,
): grpc.UntypedServiceImplementation {
  if (!deposed) return handlers;
  return Object.fromEntries(
    Object.entries(handlers).map(([name, handle]) => [
      name,
      ((call, callback) => {
        const over = deposed();
        if (over) callback(notLeaderError(over.leader));
        else handle(call, callback);
      }) as grpc.handleUnaryCall<Record<string, unknown>, unknown>,
    ]),
  );
}

export async function startControlServer(
  broker: Broker,
  info: ClusterInfo,
  address: { host: string; port: number },
  options: ControlServerOptions = {},
): Promise<{ port: number; close(): Promise<void> }> {
  const startedAt = Date.now();
  const clients = options.clients ?? (() => 0);
  const server = new grpc.Server({
    'grpc.max_receive_message_length': options.maxReceiveMessageBytes ?? 4 * 1024 * 1024,
    // Joining as a gateway and forwarding Kafka requests are for cluster members; other calls are marked when a member makes them.
    interceptors: [membershipInterceptor((method) => MEMBERS_ONLY_SERVICES.some((service) => method.startsWith(service)) || MEMBERS_ONLY_METHODS.includes(method), options.log)],
  });
  for (const extra of options.services ?? []) server.addService(extra.definition, extra.implementation);
  const groupCalls = groupControlHandlers(broker, options.groups ?? (() => undefined));
  // The SDK's admin calls: a member is the cluster itself; anyone else is User:ANONYMOUS, authorized as the Kafka door authorizes the same request.
  const allows = (call: grpc.ServerUnaryCall<unknown, unknown>, operation: AclOperation, resourceType: AclResourceType, resourceName: string): boolean =>
    isClusterMember(call.metadata) || broker.authorizer.authorize({ principal: ANONYMOUS_PRINCIPAL, host: aclHost(peerHost(call)), operation, resourceType, resourceName });
  /** Throws AuthorizationError (Kafka's code for the resource type) unless `allows`. */
  const mayDo = (call: grpc.ServerUnaryCall<unknown, unknown>, operation: AclOperation, resourceType: AclResourceType, resourceName: string): void => {
    if (!isClusterMember(call.metadata)) broker.authorizer.check({ principal: ANONYMOUS_PRINCIPAL, host: aclHost(peerHost(call)), operation, resourceType, resourceName });
  };
  server.addService(brokerService().service, refusedOnceDeposed(options.deposed, {
    ...Object.fromEntries(Object.entries(groupCalls).map(([name, handler]) => [name, unary(handler)])),
    ...Object.fromEntries(Object.entries(aclControlHandlers(() => broker.metadata, () => broker.authorizer)).map(([name, handler]) => [name, unary(handler)])),
    getClusterInfo: unary(() => info),
    getStatus: unary(async () => {
      const usage = await broker.storage.usage();
      const damage = await broker.storage.damage();
      return {
        fencedRanges: broker.fencedRanges().map((f) => fencedToWire(f.topic, f.partition, f.range)),
        storageUnreadableSlots: damage.unreadableSlots.map((u) => `slot ${u.index}${u.segmentId === undefined ? '' : ` (segment ${u.segmentId})`}: ${u.reason}`),
        cluster: info,
        topics: broker.metadata.listTopics().map((t) => describe(broker, broker.metadata.describeTopic(t.name))),
        storageSegments: usage.segments,
        storageUsedBytes: usage.usedBytes,
        storageAllocatedBytes: usage.allocatedBytes,
        storageFreeBytes: usage.freeBytes,
        fastpathClients: clients(),
        uptimeMs: Date.now() - startedAt,
        kafkaGateways: (options.gateways?.() ?? []).map((g) => ({ nodeId: g.nodeId, address: `${g.host}:${g.port}` })),
      };
    }),
    skipFencedRanges: unary(async (call) => {
      const req = call.request as { topic: string; partition: number; segmentId: string; startPosition: number };
      mayDo(call, 'ALTER', 'CLUSTER', CLUSTER_RESOURCE_NAME);
      const segmentId = Number(req.segmentId);
      if (!Number.isSafeInteger(segmentId) || segmentId < 0) throw new BrokerError('INVALID_REQUEST', `segment id "${req.segmentId}" must be a non-negative integer`);
      const skipped = await broker.skipFencedRanges(req.topic, req.partition, segmentId, req.startPosition >= 0 ? req.startPosition : undefined);
      return { skipped: skipped.map((f) => fencedToWire(req.topic, req.partition, f)) };
    }),
    createTopic: unary(async (call) => {
      const req = call.request as { name: string; partitions: number; configs: Record<string, string>; replicationFactor: number };
      if (!allows(call, 'CREATE', 'CLUSTER', CLUSTER_RESOURCE_NAME)) mayDo(call, 'CREATE', 'TOPIC', req.name);
      return describe(broker, await broker.createTopic(req.name, req.partitions || 1, req.configs, req.replicationFactor || undefined));
    }),
    createPartitions: unary(async (call) => {
      const req = call.request as { name: string; totalPartitions: number };
      mayDo(call, 'ALTER', 'TOPIC', req.name);
      return describe(broker, await broker.addPartitions(req.name, req.totalPartitions));
    }),
    alterTopicConfigs: unary(async (call) => {
      const req = call.request as { name: string; set: Record<string, string>; delete: string[] };
      mayDo(call, 'ALTER_CONFIGS', 'TOPIC', req.name);
      const changes: Record<string, string | null> = { ...req.set };
      for (const key of req.delete ?? []) changes[key] = null;
      return describe(broker, await broker.metadata.alterConfigs(req.name, changes));
    }),
    deleteTopic: unary(async (call) => {
      mayDo(call, 'DELETE', 'TOPIC', String(call.request.name));
      await broker.deleteTopic(String(call.request.name));
      return {};
    }),
    listTopics: unary(() => ({ topics: broker.metadata.listTopics().map((t) => describe(broker, broker.metadata.describeTopic(t.name))) })),
    describeTopic: unary((call) => describe(broker, broker.metadata.describeTopic(String(call.request.name)))),
    listOffsets: unary((call) => {
      const req = call.request as { topic: string; partition: number; spec: string };
      const state = broker.partitionByName(req.topic, req.partition).state;
      if (req.spec === 'earliest') return { offset: state.logStartOffset().toString() };
      if (req.spec === 'latest') return { offset: state.highWatermark().toString() };
      if (!/^-?\d+$/.test(req.spec)) throw new BrokerError('INVALID_REQUEST', `offset spec "${req.spec}" must be earliest, latest or a timestamp in ms`);
      return { offset: (state.offsetForTimestamp(BigInt(req.spec)) ?? -1n).toString() };
    }),
  }));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${address.host}:${address.port}`, serverCredentials(), (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        // Open calls (a gateway's Join) get a moment to end, then are cut.
        const force = setTimeout(() => server.forceShutdown(), 2000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}

/** The caller's IP address, from gRPC's peer string (ipv4:1.2.3.4:5, ipv6:[::1]:5). */
function peerHost(call: grpc.ServerUnaryCall<unknown, unknown>): string {
  const peer = call.getPeer().replace(/^ipv[46]:/, '');
  return peer.slice(0, Math.max(peer.lastIndexOf(':'), 0)).replace(/^\[|\]$/g, '');
}
