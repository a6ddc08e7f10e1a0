// The server roles, together or apart:
//   startNode     `rdmq start`: storage node and broker in one process, sharing one UCX transport;
//   startStorage  `rdmq storage`: the storage node alone (gRPC control + UCX for payload);
//   startBroker   `rdmq broker`: the broker alone, reaching its storage node over gRPC;
//   withGateway   the Kafka gateway beside a broker, in its process (start, broker);
//   startGatewayNode  `rdmq gateway`: a Kafka gateway of its own, joined to a broker.
import * as path from 'path';
import { Transport } from '../addon';
import { Registry } from 'prom-client';
import { advertisable, GatewayHub, startGateway, startRemoteGateway } from '../gateway';
import { Connection } from '../rdma-client';
import { Broker, BrokerMetrics, kafkaClusterId, GroupCoordinator, EmbeddedStorage, FastPathService, RemoteStorage, startControlServer, StorageBackend } from '../broker';
import { registerStorageMetrics, SegmentStore, startStorageGrpcServer, StorageNode } from '../storage-node';
import { gatewayLimitsOf, ServerConfig, splitHostPort } from './config';
import { DataDirLock, lockDataDir } from './data-dir-lock';
import { newRegistry, startMetricsServer } from './metrics-server';

export interface RunningNode {
  /** The process's Prometheus registry (served on --metrics). */
  registry: Registry;
  controlPort: number;
  fastpathPort: number;
  metricsPort: number;
  /** Set when the node runs the Kafka gateway too (rdmq start). */
  kafkaPort?: number;
  broker: Broker;
  /** Where gateways of their own join and forward to. */
  hub: GatewayHub;
  close(): Promise<void>;
}

export interface RunningGatewayNode {
  kafkaPort: number;
  metricsPort: number;
  nodeId: number;
  close(): Promise<void>;
}

export interface RunningStorage {
  controlPort: number;
  fastpathPort: number;
  metricsPort: number;
  node: StorageNode;
  close(): Promise<void>;
}

type Log = (message: string) => void;

function openStore(config: ServerConfig, log: Log): SegmentStore {
  return SegmentStore.open({
    path: path.join(config.data, 'region'),
    regionSizeBytes: config.regionSize,
    segmentSizeBytes: config.segmentSize,
    durability: config.durability,
    logger: { warn: log },
  });
}

/** Listens for fast-path connections; `address` is what clients are told (advertised host, bound port). */
async function listenFastPath(transport: Transport, config: ServerConfig): Promise<{ port: number; address: string }> {
  const { host, port } = splitHostPort(config.fastpath);
  const bound = await transport.listen(host, port);
  return { port: bound, address: `${advertisedHost(config, host)}:${bound}` };
}

/** The host clients are told to connect to: --advertised-host, or the listen host (loopback for a wildcard). */
function advertisedHost(config: ServerConfig, listenHost: string): string {
  return config.advertisedHost ?? advertisable(listenHost);
}

/** Broker and its fast-path service on `transport`, using `storage`. */
async function serveBroker(config: ServerConfig, transport: Transport, storage: StorageBackend, log: Log, registry: Registry): Promise<RunningNode> {
  let service: FastPathService | undefined;
  let opened: Broker | undefined;
  const metrics = new BrokerMetrics(registry, () => opened);
  const broker = await Broker.open(path.join(config.data, 'meta'), storage, {
    onCommitted: (topic, bytes, records) => {
      metrics.committedBytes.inc({ topic }, bytes);
      metrics.committedRecords.inc({ topic }, records);
    },
    leaseTimeoutMs: config.leaseTimeoutMs,
    retentionCheckMs: config.retentionCheckMs,
    verifyCrc: config.verify === 'crc',
    durability: config.durability,
    segmentBytesDefault: config.segmentSize,
    onAdvance: (runtime, advance) => service?.advanced(runtime, advance),
    onSegment: (runtime, segment) => void service?.segmentAdded(runtime, segment),
    onStorageRestart: () => service?.storageRestarted(),
    log,
  });
  opened = broker;
  service = new FastPathService(broker, transport, log, metrics);
  const fast = await listenFastPath(transport, config);
  const metricsServer = await startMetricsServer(registry, ...hostAndPort(config.metrics));
  const hub = new GatewayHub(log);
  const control = await startControlServer(
    broker,
    {
      clusterId: kafkaClusterId(storage.nodeId),
      fastpathAddress: fast.address,
      storageFastpathAddress: storage.fastpathAddress || fast.address,
      durability: config.durability,
      segmentSizeBytes: config.segmentSize,
    },
    splitHostPort(config.control),
    {
      clients: () => service?.clientCount ?? 0,
      gateways: () => hub.registry.nodes(),
      services: [hub.service()],
      maxReceiveMessageBytes: FORWARDED_FRAME_BYTES_MAX,
    },
  );
  return {
    registry,
    controlPort: control.port,
    fastpathPort: fast.port,
    metricsPort: metricsServer.port,
    broker,
    hub,
    close: async () => {
      hub.close();
      await metricsServer.close();
      await control.close();
      await broker.close();
      transport.close();
      storage.close();
    },
  };
}

/** Largest forwarded Kafka request: the gateways' frame bound (Kafka's socket.request.max.bytes) and room for the envelope. */
const FORWARDED_FRAME_BYTES_MAX = 100 * 1024 * 1024 + 64 * 1024;

function hostAndPort(address: string): [string, number] {
  const { host, port } = splitHostPort(address);
  return [host, port];
}

export async function startNode(config: ServerConfig, log: Log = () => undefined): Promise<RunningNode> {
  return ownDataDir(config, 'rdmq start', async () => {
    const transport = new Transport();
    const node = new StorageNode(openStore(config, log), transport);
    // One transport serves both roles: the storage node's memory is reached at the broker's address.
    const storage = new EmbeddedStorage(node);
    const registry = newRegistry('start');
    registerStorageMetrics(registry, () => node.store);
    const running = await serveBroker(config, transport, storage, log, registry);
    node.fastpathAddress = `${advertisedHost(config, splitHostPort(config.fastpath).host)}:${running.fastpathPort}`;
    return running;
  });
}

/**
 * Runs `start` holding the lock on --data (released when `start` fails or
 * when what it started is closed), so no second process opens the same
 * region or metadata log; throws DataDirLockedError naming the holder.
 */
async function ownDataDir<T extends { close(): Promise<void> }>(config: ServerConfig, command: string, start: () => Promise<T>): Promise<T> {
  const lock: DataDirLock = lockDataDir(config.data, command);
  let started: T;
  try {
    started = await start();
  } catch (err) {
    lock.release();
    throw err;
  }
  return {
    ...started,
    close: async () => {
      try {
        await started.close();
      } finally {
        lock.release();
      }
    },
  };
}

/**
 * `rdmq start`: storage node, broker and the Kafka gateway in one process.
 * The gateway is a fast-path client of this very broker: every Kafka record
 * goes through stage, put and commit like any SDK producer's.
 */
export async function startAll(config: ServerConfig, log: Log = () => undefined): Promise<RunningNode> {
  return withGateway(await startNode(config, log), config, log);
}

/** Runs the Kafka gateway beside a broker in this process (it needs the broker's metadata and groups). */
export async function withGateway(node: RunningNode, config: ServerConfig, log: Log): Promise<RunningNode> {
  const connection = await Connection.open({ control: `${splitHostPort(config.control).host}:${node.controlPort}` });
  const groups = new GroupCoordinator();
  const kafka = splitHostPort(config.kafka);
  const gateway = await startGateway({
    host: kafka.host,
    port: kafka.port,
    advertisedHost: advertisedHost(config, kafka.host),
    broker: node.broker,
    groups,
    connection,
    registry: node.hub.registry,
    autoCreateTopics: config.autoCreateTopics,
    limits: gatewayLimitsOf(config),
    log,
    metrics: node.registry,
  });
  node.hub.attach(gateway.context);
  return {
    ...node,
    kafkaPort: gateway.port,
    close: async () => {
      await gateway.close();
      groups.close();
      await connection.close();
      await node.close();
    },
  };
}

export async function startStorage(config: ServerConfig, log: Log = () => undefined): Promise<RunningStorage> {
  return ownDataDir(config, 'rdmq storage', () => serveStorage(config, log));
}

async function serveStorage(config: ServerConfig, log: Log): Promise<RunningStorage> {
  const transport = new Transport();
  const node = new StorageNode(openStore(config, log), transport);
  const fast = await listenFastPath(transport, config);
  node.fastpathAddress = fast.address;
  const control = await startStorageGrpcServer(node.store, { ...splitHostPort(config.control), node });
  const registry = newRegistry('storage');
  registerStorageMetrics(registry, () => node.store);
  const metricsServer = await startMetricsServer(registry, ...hostAndPort(config.metrics));
  return {
    controlPort: control.port,
    fastpathPort: fast.port,
    metricsPort: metricsServer.port,
    node,
    close: async () => {
      await metricsServer.close();
      await control.close();
      transport.close();
      node.close();
    },
  };
}

export async function startBroker(config: ServerConfig, log: Log = () => undefined): Promise<RunningNode> {
  if (!config.storage) throw new Error('rdmq broker needs --storage HOST:PORT (the storage node\'s control address)');
  const storageAddress = config.storage;
  return ownDataDir(config, 'rdmq broker', async () => {
    const storage = await RemoteStorage.connect(storageAddress);
    return serveBroker(config, new Transport(), storage, log, newRegistry('broker'));
  });
}

/** `rdmq gateway`: Kafka clients on --kafka, the broker at --control; no data of its own. */
export async function startGatewayNode(config: ServerConfig, options: { nodeId?: number } = {}, log: Log = () => undefined): Promise<RunningGatewayNode> {
  const registry = newRegistry('gateway');
  const kafka = splitHostPort(config.kafka);
  const gateway = await startRemoteGateway({
    control: config.control,
    host: kafka.host,
    port: kafka.port,
    advertisedHost: advertisedHost(config, kafka.host),
    nodeId: options.nodeId,
    limits: gatewayLimitsOf(config),
    log,
    metrics: registry,
  });
  let metricsServer: Awaited<ReturnType<typeof startMetricsServer>>;
  try {
    metricsServer = await startMetricsServer(registry, ...hostAndPort(config.metrics));
  } catch (err) {
    await gateway.close();
    throw err;
  }
  return {
    kafkaPort: gateway.port,
    metricsPort: metricsServer.port,
    nodeId: gateway.nodeId,
    close: async () => {
      await metricsServer.close();
      await gateway.close();
    },
  };
}
