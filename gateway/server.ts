// The Kafka gateway in the broker's process: a TCP server speaking the Kafka
// protocol. It reads metadata, groups and offsets from the in-process broker,
// and moves every record through the fast path (Producer.write,
// PartitionFetcher), never by touching storage. It also answers the requests
// that gateways of their own forward to the broker (hub.ts).
import { Registry } from 'prom-client';
import * as net from 'net';
import * as tls from 'tls';
import type { CredentialLookup } from '../format/sasl';
import { Broker } from '../broker';
import { Connection, Producer } from '../rdma-client';
import { BatchBuffers } from '../rdma-client/batch-buffers';
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
import { ProduceGroups } from './produce-groups';
import { GatewayMetrics } from './metrics';
import { ListenerAddress, ListenerSpec, usesTls } from './security/listeners';
import { KafkaSession } from './security/session';

/** Idle Fetch read buffers the gateway keeps for its next reads, in answers of maxFetchResponseBytes. */
const READ_BUFFERS_KEPT_ANSWERS = 4;

/** One Kafka listener (Kafka's listeners / advertised.listeners): where, with what security, and what clients are told. */
export interface KafkaListenerOptions extends ListenerSpec {
  /** TLS (certificate, key, CA, client auth) of an SSL or SASL_SSL listener. */
  tls?: tls.TlsOptions;
}

export interface GatewayOptions {
  /** Address to listen on; port 0 picks a free one. Ignored when `listeners` is given. */
  host: string;
  port: number;
  /** Several listeners; one PLAINTEXT listener on host:port when not given. */
  listeners?: KafkaListenerOptions[];
  /** The broker's SCRAM users, for SASL listeners. */
  credentials?: CredentialLookup;
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
  /** The bound port (of the first listener). */
  port: number;
  /** Each listener's bound port, by name. */
  ports: Record<string, number>;
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
  const specs = options.listeners ?? [{ name: 'PLAINTEXT', protocol: 'PLAINTEXT' as const, host: options.host, port: options.port, advertisedHost: options.advertisedHost, advertisedPort: options.advertisedPort }];
  const listener = await listenAll(specs, limits, log);
  const registry = options.registry ?? new GatewayRegistry();
  let registered: ReturnType<GatewayRegistry['add']>;
  try {
    const advertised = listener.advertised(specs);
    registered = registry.add({ nodeId: options.nodeId ?? 0, host: advertised[0].host, port: advertised[0].port, rack: null, listeners: advertised });
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
    credentials: options.credentials,
  };
  context.metrics?.observeProduceGroups(() => context.produceGroups);
  context.metrics?.observeFetchers(() => context.fetchers);
  listener.serve(context, dispatch);
  return {
    port: listener.port,
    ports: listener.ports,
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

export type FastPathParts = Pick<DataContext, 'connection' | 'producer' | 'produceGroups' | 'fetchers'>;

/** A gateway's use of one fast-path connection: the shared producer and the partition readers. */
export function fastPathParts(connection: Connection, limits: GatewayLimits, log: (message: string) => void): FastPathParts {
  // No byte bound of the SDK's: what a Produce holds is bounded by the connections' request memory already.
  const producer = new Producer(connection, { mode: 'shared', stagingDepth: limits.producerStagingDepth, stagingBytes: Number.POSITIVE_INFINITY });
  return {
    connection,
    producer,
    produceGroups: new ProduceGroups(producer, limits.produceWritesPerPartition),
    fetchers: new FetcherPool(
      connection,
      limits.maxOpenFetchers,
      log,
      limits.fetchReadAheadBytes > 0 ? new MemoryBudget(limits.fetchReadAheadBytes) : undefined,
      // Idle read buffers kept for the next reads: a few answers' worth (an answer and its read-ahead in flight per reader).
      new BatchBuffers(READ_BUFFERS_KEPT_ANSWERS * limits.maxFetchResponseBytes),
    ),
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

/** Every listener of a gateway, served and closed as one. */
export interface KafkaListeners extends KafkaListener {
  ports: Record<string, number>;
  /** Each listener's address as clients are told it (advertised, or bound: loopback for a wildcard). */
  advertised(specs: KafkaListenerOptions[]): ListenerAddress[];
}

/** Binds every listener (closing those bound when one fails). */
export async function listenAll(specs: KafkaListenerOptions[], limits: GatewayLimits, log: (message: string) => void): Promise<KafkaListeners> {
  const bound: KafkaListener[] = [];
  try {
    for (const spec of specs) bound.push(await listenKafka(spec.host, spec.port, limits, spec, log, bound[0]?.requestMemory));
  } catch (err) {
    await Promise.all(bound.map((l) => l.close()));
    throw err;
  }
  const ports = Object.fromEntries(specs.map((s, i) => [s.name, bound[i].port]));
  return {
    port: bound[0].port,
    ports,
    get connectionCount() {
      return bound.reduce((sum, l) => sum + l.connectionCount, 0);
    },
    requestMemory: bound[0].requestMemory,
    serve: (context, dispatch) => bound.forEach((l) => l.serve(context, dispatch)),
    close: async () => void (await Promise.all(bound.map((l) => l.close()))),
    advertised: (list) => list.map((s, i) => ({ name: s.name, host: s.advertisedHost ?? advertisable(s.host), port: s.advertisedPort ?? bound[i].port })),
  };
}

/** The principal of a verified client certificate: `User:` + its subject's CN (mutual TLS). */
function certificatePrincipal(socket: net.Socket): string | undefined {
  if (!(socket instanceof tls.TLSSocket) || !socket.authorized) return undefined;
  const cn = socket.getPeerCertificate()?.subject?.CN;
  const name = Array.isArray(cn) ? cn[0] : cn;
  return name ? `User:${name}` : undefined;
}

/** Binds the Kafka port; connections are served once `serve` is called. */
export async function listenKafka(
  host: string,
  port: number,
  limits: GatewayLimits,
  security: Pick<KafkaListenerOptions, 'name' | 'protocol' | 'tls'> = { name: 'PLAINTEXT', protocol: 'PLAINTEXT' },
  log: (message: string) => void = () => undefined,
  /** Shared with the gateway's other listeners: one bound on request bytes for all of them. */
  sharedMemory?: SharedRequestMemory,
): Promise<KafkaListener> {
  const secure = usesTls(security.protocol);
  if (secure && !security.tls) throw new Error(`listener ${security.name} (${security.protocol}) needs a TLS certificate and key`);
  // A TLS socket is handed over once its handshake is done (pausing it before would stall the handshake).
  const server: net.Server = secure ? tls.createServer(security.tls!) : net.createServer({ pauseOnConnect: true });
  server.maxConnections = limits.maxConnections;
  if (secure) {
    server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) =>
      log(`TLS handshake from ${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'} on listener ${security.name} failed (User:ANONYMOUS): ${err.message}`),
    );
  }
  const bound = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
  const clients = new Set<ClientConnection<DataContext>>();
  const requestMemory: SharedRequestMemory = sharedMemory ?? {
    budget: new MemoryBudget(limits.maxBufferedRequestBytes),
    frameBuffers: new FrameBufferPool(limits.frameBufferPoolBytes),
  };
  const waiting: net.Socket[] = [];
  let onConnection = (socket: net.Socket): void => {
    socket.pause();
    waiting.push(socket);
  };
  server.on(secure ? 'secureConnection' : 'connection', (socket: net.Socket) => onConnection(socket));
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
        const session = new KafkaSession(security.name, security.protocol, certificatePrincipal(socket));
        const client = new ClientConnection(socket, context, dispatch, (c) => {
          clients.delete(c as unknown as ClientConnection<DataContext>);
          context.metrics?.connections.set(clients.size);
        }, requestMemory, session);
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
