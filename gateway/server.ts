// The Kafka gateway in the broker's process: a TCP server speaking the Kafka
// protocol. It reads metadata, groups and offsets from the in-process broker,
// and moves every record through the fast path (Producer.write,
// PartitionFetcher), never by touching storage. It also answers the requests
// that gateways of their own forward to the broker (hub.ts).
import { Registry } from 'prom-client';
import * as net from 'net';
import { Broker } from '../broker';
import { Connection, Producer } from '../rdma-client';
import type { GroupCoordinator } from './broker-view';
import { BrokerCatalog } from './catalog';
import { ClientConnection, SharedRequestMemory } from './client-connection';
import { GatewayLimits, GatewayLimitsInput, parseGatewayLimits } from './config';
import { DataContext, Dispatcher, GatewayContext } from './context';
import { dispatch } from './dispatch';
import { FetcherPool } from './fetchers';
import { FrameBufferPool } from './frame-buffers';
import { IdempotentAppender } from './idempotence';
import { advertisable, GatewayRegistry } from './leadership';
import { MemoryBudget } from './memory-budget';
import { GatewayMetrics } from './metrics';

export interface GatewayOptions {
  /** Address to listen on; port 0 picks a free one. */
  host: string;
  port: number;
  /** Host clients are told to connect to (Metadata, FindCoordinator); defaults to `host`. */
  advertisedHost?: string;
  /** Port clients are told; defaults to the bound port. */
  advertisedPort?: number;
  broker: Broker;
  groups: GroupCoordinator;
  /** The fast path, shared by every Kafka connection. */
  connection: Connection;
  /** This gateway's Kafka broker id. */
  nodeId?: number;
  /** The broker's live gateways, this one among them; a registry of its own when not given. */
  registry?: GatewayRegistry;
  /** Create unknown topics named in Metadata requests that allow it (Kafka: auto.create.topics.enable). */
  autoCreateTopics?: boolean;
  limits?: GatewayLimitsInput;
  log?: (message: string) => void;
  /** Where to register the gateway's Prometheus metrics. */
  metrics?: Registry;
}

export interface RunningGateway {
  /** The bound port. */
  port: number;
  /** Open Kafka connections. */
  readonly connectionCount: number;
  /** What the handlers are given; answers forwarded requests too. */
  readonly context: GatewayContext;
  /** Stops accepting, closes every Kafka connection and partition reader. Does not close `connection`. */
  close(): Promise<void>;
}

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const limits = parseGatewayLimits(options.limits ?? {});
  const log = options.log ?? (() => undefined);
  const listener = await listenKafka(options.host, options.port, limits);
  const registry = options.registry ?? new GatewayRegistry();
  let registered: ReturnType<GatewayRegistry['add']>;
  try {
    registered = registry.add({
      nodeId: options.nodeId ?? 0,
      host: options.advertisedHost ?? advertisable(options.host),
      port: options.advertisedPort ?? listener.port,
      rack: null,
    });
  } catch (err) {
    await listener.close();
    throw err;
  }
  const context: GatewayContext = {
    ...fastPathParts(options.connection, limits, log),
    nodeId: registered.node.nodeId,
    clusterId: options.connection.cluster.clusterId,
    limits,
    log,
    fetchMemory: new MemoryBudget(limits.maxFetchMemoryBytes),
    metrics: options.metrics ? new GatewayMetrics(options.metrics) : undefined,
    catalog: new BrokerCatalog(options.broker),
    acls: options.broker.authorizer,
    broker: options.broker,
    groups: options.groups,
    idempotence: new IdempotentAppender(options.broker, log),
    leadership: registry.leadership,
    autoCreateTopics: options.autoCreateTopics ?? true,
  };
  listener.serve(context, dispatch);
  return {
    port: listener.port,
    context,
    get connectionCount() {
      return listener.connectionCount;
    },
    close: async () => {
      registered.remove();
      await listener.close();
      await context.fetchers.closeAll();
    },
  };
}

export type FastPathParts = Pick<DataContext, 'connection' | 'producer' | 'fetchers'>;

/** A gateway's use of one fast-path connection: the shared producer and the partition readers. */
export function fastPathParts(connection: Connection, limits: GatewayLimits, log: (message: string) => void): FastPathParts {
  return {
    connection,
    producer: new Producer(connection, { mode: 'shared', stagingDepth: limits.producerStagingDepth }),
    fetchers: new FetcherPool(connection, limits.maxOpenFetchers, log),
  };
}

export interface KafkaListener {
  port: number;
  readonly connectionCount: number;
  /** Request bytes held across the listener's connections (limits.maxBufferedRequestBytes). */
  readonly requestMemory: SharedRequestMemory;
  /** Starts handing connections to `dispatch` (until then they wait in the backlog). */
  serve<C extends DataContext>(context: C, dispatch: Dispatcher<C>): void;
  /** Stops accepting and closes every Kafka connection. */
  close(): Promise<void>;
}

/** Binds the Kafka port; connections are served once `serve` is called. */
export async function listenKafka(host: string, port: number, limits: GatewayLimits): Promise<KafkaListener> {
  const server = net.createServer({ pauseOnConnect: true });
  server.maxConnections = limits.maxConnections;
  const bound = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
  const clients = new Set<ClientConnection<DataContext>>();
  const requestMemory: SharedRequestMemory = {
    budget: new MemoryBudget(limits.maxBufferedRequestBytes),
    frameBuffers: new FrameBufferPool(limits.frameBufferPoolBytes),
  };
  const waiting: net.Socket[] = [];
  let onConnection = (socket: net.Socket): void => void waiting.push(socket);
  server.on('connection', (socket) => onConnection(socket));
  let closing: Promise<void> | undefined;
  return {
    port: bound,
    get connectionCount() {
      return clients.size;
    },
    requestMemory,
    serve<C extends DataContext>(context: C, dispatch: Dispatcher<C>) {
      server.on('error', (err) => context.log(`Kafka gateway server error: ${err.message}`));
      onConnection = (socket) => {
        const client = new ClientConnection(socket, context, dispatch, (c) => {
          clients.delete(c as unknown as ClientConnection<DataContext>);
          context.metrics?.connections.set(clients.size);
        }, requestMemory);
        clients.add(client as unknown as ClientConnection<DataContext>);
        context.metrics?.connections.set(clients.size);
        socket.resume();
      };
      for (const socket of waiting.splice(0)) onConnection(socket);
    },
    close: () =>
      (closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const socket of waiting.splice(0)) socket.destroy();
        for (const c of [...clients]) c.close();
        await stopped;
      })()),
  };
}
