// The server roles, together or apart:
//   startNode     `rdmq start`: storage node and broker in one process, sharing one UCX transport;
//   startStorage  `rdmq storage`: the storage node alone (gRPC control + UCX for payload);
//   startBroker   `rdmq broker`: the broker alone, reaching its storage node over gRPC.
import * as fs from 'fs';
import * as path from 'path';
import { Transport } from '../addon';
import { Registry } from 'prom-client';
import { startGateway } from '../gateway';
import { Connection } from '../rdma-client';
import { Broker, BrokerMetrics, GroupCoordinator, EmbeddedStorage, FastPathService, RemoteStorage, startControlServer, StorageBackend } from '../broker';
import { registerStorageMetrics, SegmentStore, startStorageGrpcServer, StorageNode } from '../storage-node';
import { ServerConfig, splitHostPort } from './config';
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
  fs.mkdirSync(config.data, { recursive: true });
  return SegmentStore.open({
    path: path.join(config.data, 'region'),
    regionSizeBytes: config.regionSize,
    segmentSizeBytes: config.segmentSize,
    durability: config.durability,
    logger: { warn: log },
  });
}

async function listenFastPath(transport: Transport, address: string): Promise<{ port: number; address: string }> {
  const { host, port } = splitHostPort(address);
  const bound = await transport.listen(host, port);
  return { port: bound, address: `${host}:${bound}` };
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
    onAdvance: (runtime, advance) => service?.advanced(runtime, advance),
    onSegment: (runtime, segment) => void service?.segmentAdded(runtime, segment),
    log,
  });
  opened = broker;
  service = new FastPathService(broker, transport, log, metrics);
  const fast = await listenFastPath(transport, config.fastpath);
  const metricsServer = await startMetricsServer(registry, ...hostAndPort(config.metrics));
  const control = await startControlServer(
    broker,
    {
      clusterId: storage.nodeId,
      fastpathAddress: fast.address,
      storageFastpathAddress: storage.fastpathAddress || fast.address,
      durability: config.durability,
      segmentSizeBytes: config.segmentSize,
    },
    splitHostPort(config.control),
    () => service?.clientCount ?? 0,
  );
  return {
    registry,
    controlPort: control.port,
    fastpathPort: fast.port,
    metricsPort: metricsServer.port,
    broker,
    close: async () => {
      await metricsServer.close();
      await control.close();
      await broker.close();
      transport.close();
      storage.close();
    },
  };
}

function hostAndPort(address: string): [string, number] {
  const { host, port } = splitHostPort(address);
  return [host, port];
}

export async function startNode(config: ServerConfig, log: Log = () => undefined): Promise<RunningNode> {
  const transport = new Transport();
  const node = new StorageNode(openStore(config, log), transport);
  // One transport serves both roles: the storage node's memory is reached at the broker's address.
  const storage = new EmbeddedStorage(node);
  const registry = newRegistry('start');
  registerStorageMetrics(registry, () => node.store);
  const running = await serveBroker(config, transport, storage, log, registry);
  node.fastpathAddress = `${splitHostPort(config.fastpath).host}:${running.fastpathPort}`;
  return running;
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
  const gateway = await startGateway({ host: kafka.host, port: kafka.port, broker: node.broker, groups, connection, log, metrics: node.registry });
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
  const transport = new Transport();
  const node = new StorageNode(openStore(config, log), transport);
  const fast = await listenFastPath(transport, config.fastpath);
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
  fs.mkdirSync(config.data, { recursive: true });
  const storage = await RemoteStorage.connect(config.storage);
  return serveBroker(config, new Transport(), storage, log, newRegistry('broker'));
}
