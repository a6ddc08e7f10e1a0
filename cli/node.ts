// The server roles, together or apart:
//   startNode     `rdmq start`: storage node and broker in one process, sharing one UCX transport;
//   startStorage  `rdmq storage`: the storage node alone (gRPC control + UCX for payload);
//   startBroker   `rdmq broker`: the broker alone, reaching its storage node over gRPC;
//   withGateway   the Kafka gateway beside a broker, in its process (start, broker);
//   startGatewayNode  `rdmq gateway`: a Kafka gateway of its own, joined to a broker.
import * as path from 'path';
import { protectStorageProcess, Transport } from '../addon';
import { Registry } from 'prom-client';
import { advertisable, GatewayHub, startGateway, startRemoteGateway } from '../gateway';
import { Connection } from '../rdma-client';
import { Broker, BrokerMetrics, BrokerOptions, kafkaClusterId, GroupCoordinator, EmbeddedStorage, FastPathService, RemoteStorage, ReplicatedStorage, startControlServer, StorageBackend, usersServiceOf } from '../broker';
import { kafkaListenersOf } from './security-config';
import { FastPathAuthenticator } from '../broker/security/fastpath-auth';
import {
  DataService,
  registerFastPathMetrics,
  registerInProcessDataMetrics,
  registerScrubMetrics,
  registerStorageMetrics,
  Scrubber,
  SegmentStore,
  startDataService,
  startStorageGrpcServer,
  StorageNode,
} from '../storage-node';
import { gatewayLimitsOf, ServerConfig, splitHostPort, writeStoredSettings } from './config';
import { useDataDirSecret } from './control-plane-setup';
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
  /** Each Kafka listener's bound port, by name (with kafkaPort). */
  kafkaPorts?: Record<string, number>;
  broker: Broker;
  /** Where gateways of their own join and forward to. */
  hub: GatewayHub;
  /** Consumer groups, one coordinator for the Kafka gateway and the SDK (control plane). */
  groups: GroupCoordinator;
  /** What this process's own gateway presents to its broker's fast path as a cluster member. */
  clusterToken: Buffer;
  close(): Promise<void>;
}

export interface RunningGatewayNode {
  kafkaPort: number;
  /** Each Kafka listener's bound port, by name. */
  kafkaPorts: Record<string, number>;
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
  const started = Date.now();
  if (config.prefaultRegion) log(`storage: faulting the region in (${config.regionSize} bytes) ...`);
  const store = SegmentStore.open({
    path: path.join(config.data, 'region'),
    regionSizeBytes: config.regionSize,
    segmentSizeBytes: config.segmentSize,
    durability: config.durability,
    logger: { warn: log },
    prefaultRegion: config.prefaultRegion,
  });
  if (config.prefaultRegion) log(`storage: region faulted in and opened in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return store;
}

/** The node's background scrubber at --scrub-rate (off at 0), its progress on /metrics. */
function startScrubber(node: StorageNode, config: ServerConfig, registry: Registry, log: Log): Scrubber {
  const scrubber = new Scrubber(node.store, { bytesPerSecond: config.scrubRate, log: (message) => log(`storage: ${message}`) });
  registerScrubMetrics(registry, scrubber);
  scrubber.start();
  return scrubber;
}

/** Listens for fast-path connections; `address` is what clients are told (advertised host, bound port). */
async function listenFastPath(transport: Transport, config: ServerConfig): Promise<{ port: number; address: string }> {
  const { host, port } = splitHostPort(config.fastpath);
  const bound = await listening('fastpath', config.fastpath, () => transport.listen(host, port));
  return { port: bound, address: `${advertisedHost(config, host)}:${bound}` };
}

/** The host clients are told to connect to: --advertised-host, or the listen host (loopback for a wildcard). */
function advertisedHost(config: ServerConfig, listenHost: string): string {
  return config.advertisedHost ?? advertisable(listenHost);
}

/** Broker and its fast-path service on `transport`, using `storage`; `extra` adds broker options (an HA leader's etcd metadata). */
export async function serveBroker(
  config: ServerConfig,
  transport: Transport,
  storage: StorageBackend,
  log: Log,
  registry: Registry,
  extra: Pick<BrokerOptions, 'openMetadataSink' | 'sealOpenSegmentsOnOpen'> & { deposed?: () => { leader?: string } | undefined } = {},
): Promise<RunningNode> {
  const { deposed, ...brokerExtra } = extra;
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
    defaultReplicationFactor: config.defaultReplicationFactor,
    acls: { superUsers: config.superUsers, allowEveryoneIfNoAclFound: config.allowEveryoneIfNoAclFound },
    onAdvance: (runtime, advance) => service?.advanced(runtime, advance),
    onSegment: (runtime, segment) => service?.segmentAdded(runtime, segment),
    onStorageRestart: () => service?.storageRestarted(),
    log,
    ...brokerExtra,
  });
  opened = broker;
  const authenticator = new FastPathAuthenticator({
    requireAuthentication: config.requireAuthentication,
    credentials: (user, mechanism) => Promise.resolve(broker.users.lookup(user, mechanism)),
    log,
  });
  service = new FastPathService(broker, transport, log, metrics, authenticator);
  const hub = new GatewayHub(log);
  const groups = new GroupCoordinator({ initialRebalanceDelayMs: config.groupInitialRebalanceDelayMs });
  // A listener that cannot bind undoes what opened before it: an HA broker that
  // fails a takeover stays a standby and must be able to take over later on the same ports.
  const undo: Array<() => unknown> = [() => transport.close(), () => broker.close(), () => groups.close(), () => hub.close()];
  const opening = async <T extends { close(): unknown }>(open: () => Promise<T>): Promise<T> => {
    try {
      const listener = await open();
      undo.push(() => listener.close());
      return listener;
    } catch (err) {
      for (const step of undo.reverse()) await Promise.resolve(step()).catch(() => undefined);
      throw err;
    }
  };
  const fast = await opening(async () => ({ ...(await listenFastPath(transport, config)), close: () => undefined }));
  const metricsServer = await opening(() => listening('metrics', config.metrics, () => startMetricsServer(registry, ...hostAndPort(config.metrics))));
  const control = await opening(() => listening('control', config.control, () => startControlServer(
    broker,
    {
      clusterId: kafkaClusterId(storage.nodeId),
      fastpathAddress: fast.address,
      storageFastpathAddress: storage.fastpathAddress || fast.address,
      durability: config.durability,
      segmentSizeBytes: config.segmentSize,
      authenticationRequired: config.requireAuthentication,
    },
    splitHostPort(config.control),
    {
      clients: () => service?.clientCount ?? 0,
      gateways: () => hub.registry.nodes(),
      services: [hub.service(), usersServiceOf(broker, deposed)],
      maxReceiveMessageBytes: FORWARDED_FRAME_BYTES_MAX,
      groups: () => groups,
      deposed,
      log,
    },
  )));
  return {
    registry,
    controlPort: control.port,
    fastpathPort: fast.port,
    metricsPort: metricsServer.port,
    broker,
    hub,
    groups,
    clusterToken: authenticator.clusterToken,
    close: async () => {
      hub.close();
      groups.close();
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

/** Where a listener cannot bind: one line naming the address and the flag that chose it. */
export class ListenError extends Error {
  readonly code = 'ERR_LISTEN';
  constructor(message: string) {
    super(message);
    this.name = 'ListenError';
  }
}

/** Runs the listen `--flag` asked for; a taken or unusable address becomes a ListenError (gRPC, UCX and net each word it their own way). */
async function listening<T>(flag: string, address: string, listen: () => Promise<T>): Promise<T> {
  try {
    return await listen();
  } catch (err) {
    const text = `${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}`;
    const reason = /EADDRINUSE|address already in use|busy/i.test(text)
      ? 'address in use'
      : /EADDRNOTAVAIL|cannot assign requested address/i.test(text)
        ? 'no such address on this host'
        : /EACCES|permission denied/i.test(text)
          ? 'permission denied'
          : undefined;
    if (reason === undefined) throw err;
    throw new ListenError(`cannot listen on ${address} for --${flag}: ${reason}`);
  }
}

function hostAndPort(address: string): [string, number] {
  const { host, port } = splitHostPort(address);
  return [host, port];
}

export async function startNode(config: ServerConfig, log: Log = () => undefined): Promise<RunningNode> {
  return ownDataDir(config, 'rdmq start', async () => sayNotes(await serveNode(config, log), log));
}

/** What the node says about its storage once everything listens (a start that fails says only why). */
type WithStorageNotes<T> = T & { storageNotes: string[] };

function sayNotes<T extends { storageNotes: string[] }>(started: T, log: Log): T {
  for (const note of started.storageNotes) log(note);
  return started;
}

async function serveNode(config: ServerConfig, log: Log): Promise<WithStorageNotes<RunningNode>> {
  const protectedNote = protectStorage();
  const transport = new Transport();
  const node = new StorageNode(openStore(config, log), { transport });
  // Clients reach the storage node's segments through its data service, beside the broker's fast-path address.
  const data = await serveStorageData(node, config, 0, log);
  const storage = new EmbeddedStorage(node);
  const registry = newRegistry('start');
  registerStorageMetrics(registry, () => node.store);
  registerFastPathMetrics(registry, node);
  registerInProcessDataMetrics(registry, data.stats);
  const scrubber = startScrubber(node, config, registry, log);
  let running: RunningNode;
  try {
    running = await serveBroker(config, transport, storage, log, registry);
  } catch (err) {
    scrubber.stop();
    await data.close();
    throw err;
  }
  return {
    ...running,
    storageNotes: [protectedNote, data.note],
    close: async () => {
      scrubber.stop();
      await data.close();
      await running.close();
    },
  };
}

/**
 * This process holds a storage node's region: no same-user process may
 * ptrace it or reach it with CMA, and its UCX contexts leave out the
 * transports that do not enforce memory keys (addon protectStorageProcess).
 */
function protectStorage(): string {
  const leftOut = protectStorageProcess();
  return `storage memory protected: this process is not dumpable (no ptrace or CMA by other processes); UCX transports left out: ${leftOut}`;
}

/** The storage node's checked data path on the --fastpath host (`port` 0: a free one); sets the address clients are told. */
async function serveStorageData(node: StorageNode, config: ServerConfig, port: number, log: Log): Promise<{ port: number; note: string; stats: DataService['stats']; close(): Promise<void> }> {
  const { host } = splitHostPort(config.fastpath);
  // Clients on this host find the Unix socket through the data address (LOCAL_DOOR) and copy with CMA there.
  const localDir = path.resolve(config.data, 'local-clients');
  const data = await listening('fastpath', `${host}:${port}`, () => startDataService(node, host, port, log, localDir));
  node.fastpathAddress = `${advertisedHost(config, host)}:${data.port}`;
  const note =
    node.mode === 'verbs'
      ? `storage fast path: verbs (one-sided puts and gets checked by the NIC: one registration per segment with exactly the granted access); data service at ${node.fastpathAddress}`
      : `storage fast path: checked (every put and get goes through this node's grant check at ${node.fastpathAddress}; its memory is registered for no remote access); ${data.localNote}`;
  return { port: data.port, note, stats: () => data.stats(), close: () => data.close() };
}

/**
 * Runs `start` holding the lock on --data (released when `start` fails or
 * when what it started is closed), so no second process opens the same
 * region or metadata log; throws DataDirLockedError naming the holder.
 */
export async function ownDataDir<T extends { close(): Promise<void> }>(config: ServerConfig, command: string, start: () => Promise<T>): Promise<T> {
  const lock: DataDirLock = lockDataDir(config.data, command);
  let started: T;
  try {
    // Before starting: a failed first start discards it with everything else it created.
    writeStoredSettings(config);
    started = await start();
  } catch (err) {
    lock.discardCreated();
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
  return ownDataDir(config, 'rdmq start', async () => {
    useDataDirSecret(config);
    const node = await serveNode(config, log);
    return sayNotes({ ...(await withGateway(node, config, log)), storageNotes: node.storageNotes }, log);
  });
}

/** Runs the Kafka gateway beside a broker in this process (it needs the broker's metadata and groups); closes the node if the gateway cannot start. */
export async function withGateway(node: RunningNode, config: ServerConfig, log: Log): Promise<RunningNode> {
  let connection: Connection | undefined;
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  try {
    connection = await Connection.open({ control: `${splitHostPort(config.control).host}:${node.controlPort}`, clusterToken: node.clusterToken });
    gateway = await gatewayFor(node, config, connection, node.groups, log);
  } catch (err) {
    await connection?.close();
    await node.close();
    throw err;
  }
  const opened = connection;
  return {
    ...node,
    kafkaPort: gateway.port,
    kafkaPorts: gateway.ports,
    close: async () => {
      await gateway.close();
        await opened.close();
      await node.close();
    },
  };
}

async function gatewayFor(node: RunningNode, config: ServerConfig, connection: Connection, groups: GroupCoordinator, log: Log): Promise<Awaited<ReturnType<typeof startGateway>>> {
  const kafka = splitHostPort(config.kafka);
  const gateway = await listening('kafka', config.kafka, () => startGateway({
    host: kafka.host,
    port: kafka.port,
    advertisedHost: advertisedHost(config, kafka.host),
    listeners: kafkaListenersOf(config),
    credentials: (user, mechanism) => Promise.resolve(node.broker.users.lookup(user, mechanism)),
    broker: node.broker,
    groups,
    connection,
    registry: node.hub.registry,
    autoCreateTopics: config.autoCreateTopics,
    limits: gatewayLimitsOf(config),
    log,
    metrics: node.registry,
  }));
  node.hub.attach(gateway.context);
  return gateway;
}

export async function startStorage(config: ServerConfig, log: Log = () => undefined): Promise<RunningStorage> {
  return ownDataDir(config, 'rdmq storage', () => serveStorage(config, log));
}

async function serveStorage(config: ServerConfig, log: Log): Promise<RunningStorage> {
  const protectedNote = protectStorage();
  const transport = new Transport();
  const node = new StorageNode(openStore(config, log), { transport });
  const data = await serveStorageData(node, config, splitHostPort(config.fastpath).port, log);
  const control = await listening('control', config.control, () => startStorageGrpcServer(node.store, { ...splitHostPort(config.control), node, log, epochFile: path.join(config.data, 'leader-epoch'), localDir: path.resolve(config.data, 'local-clients'), commitPort: config.commitPort }));
  const registry = newRegistry('storage');
  registerStorageMetrics(registry, () => node.store);
  registerFastPathMetrics(registry, node);
  const scrubber = startScrubber(node, config, registry, log);
  const metricsServer = await listening('metrics', config.metrics, () => startMetricsServer(registry, ...hostAndPort(config.metrics)));
  log(protectedNote);
  log(data.note);
  return {
    controlPort: control.port,
    fastpathPort: data.port,
    metricsPort: metricsServer.port,
    node,
    close: async () => {
      scrubber.stop();
      await metricsServer.close();
      await control.close();
      await data.close();
      transport.close();
      node.close();
    },
  };
}

/** `rdmq broker`: the broker and its Kafka gateway, using the storage node at --storage. */
export async function startBroker(config: ServerConfig, log: Log = () => undefined): Promise<RunningNode> {
  if (!config.storage) throw new Error('rdmq broker needs --storage HOST:PORT[,HOST:PORT...] (the storage nodes\' control addresses; rdmq storage listens on 127.0.0.1:7410 unless told)');
  const storageAddresses = config.storage;
  if (config.defaultReplicationFactor > storageAddresses.length) {
    throw new Error(`--default-replication-factor ${config.defaultReplicationFactor} needs as many storage nodes; --storage names ${storageAddresses.length}`);
  }
  return ownDataDir(config, 'rdmq broker', async () => {
    const storage = storageAddresses.length === 1 ? await RemoteStorage.connect(storageAddresses[0]) : await ReplicatedStorage.connect(storageAddresses);
    return withGateway(await serveBroker(config, new Transport(), storage, log, newRegistry('broker')), config, log);
  });
}

/** `rdmq gateway`: Kafka clients on --kafka, the broker at --control; no data of its own. */
export async function startGatewayNode(config: ServerConfig, options: { nodeId?: number } = {}, log: Log = () => undefined): Promise<RunningGatewayNode> {
  const registry = newRegistry('gateway');
  const kafka = splitHostPort(config.kafka);
  const gateway = await listening('kafka', config.kafka, () => startRemoteGateway({
    control: config.control,
    host: kafka.host,
    port: kafka.port,
    advertisedHost: advertisedHost(config, kafka.host),
    listeners: kafkaListenersOf(config),
    nodeId: options.nodeId,
    limits: gatewayLimitsOf(config),
    log,
    metrics: registry,
  }));
  let metricsServer: Awaited<ReturnType<typeof startMetricsServer>>;
  try {
    metricsServer = await listening('metrics', config.metrics, () => startMetricsServer(registry, ...hostAndPort(config.metrics)));
  } catch (err) {
    await gateway.close();
    throw err;
  }
  return {
    kafkaPort: gateway.port,
    kafkaPorts: gateway.ports,
    metricsPort: metricsServer.port,
    nodeId: gateway.nodeId,
    close: async () => {
      await metricsServer.close();
      await gateway.close();
    },
  };
}
