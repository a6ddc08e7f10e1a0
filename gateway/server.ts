// The Kafka gateway: a TCP server speaking the Kafka protocol, inside the
// process that runs the broker. It reads metadata, groups and offsets from
// the in-process broker, and moves every record through the fast path
// (Producer.write, PartitionFetcher), never by touching storage.
import { Registry } from 'prom-client';
import * as net from 'net';
import { Broker } from '../broker';
import { Connection, Producer } from '../rdma-client';
import type { GroupCoordinator } from './broker-view';
import { ClientConnection } from './client-connection';
import { GatewayLimitsInput, parseGatewayLimits } from './config';
import { GatewayContext } from './context';
import { FetcherPool } from './fetchers';
import { IdempotentAppender } from './idempotence';
import { staticLeadership } from './leadership';
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
  /** Stops accepting, closes every Kafka connection and partition reader. Does not close `connection`. */
  close(): Promise<void>;
}

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const limits = parseGatewayLimits(options.limits ?? {});
  const log = options.log ?? (() => undefined);
  const nodeId = options.nodeId ?? 0;
  if (!Number.isInteger(nodeId) || nodeId < 0 || nodeId > 0x7fffffff) throw new RangeError(`nodeId must be an integer 0..2^31-1, got ${nodeId}`);

  const server = net.createServer();
  server.maxConnections = limits.maxConnections;
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });

  const leadership = staticLeadership([
    { nodeId, host: options.advertisedHost ?? advertisable(options.host), port: options.advertisedPort ?? port, rack: null },
  ]);
  const gateway: GatewayContext = {
    broker: options.broker,
    groups: options.groups,
    connection: options.connection,
    producer: new Producer(options.connection, { mode: 'shared', stagingDepth: limits.producerStagingDepth }),
    fetchers: new FetcherPool(options.connection, limits.maxOpenFetchers, log),
    idempotence: new IdempotentAppender(options.broker.metadata, limits.maxProducerStatesCached, log),
    leadership,
    nodeId,
    clusterId: options.connection.cluster.clusterId,
    autoCreateTopics: options.autoCreateTopics ?? true,
    limits,
    log,
    metrics: options.metrics ? new GatewayMetrics(options.metrics) : undefined,
  };

  const clients = new Set<ClientConnection>();
  server.on('connection', (socket) => {
    clients.add(
      new ClientConnection(socket, gateway, (c) => {
        clients.delete(c);
        gateway.metrics?.connections.set(clients.size);
      }),
    );
    gateway.metrics?.connections.set(clients.size);
  });
  server.on('error', (err) => log(`Kafka gateway server error: ${err.message}`));

  let closing: Promise<void> | undefined;
  return {
    port,
    get connectionCount() {
      return clients.size;
    },
    close: () =>
      (closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const c of [...clients]) c.close();
        await stopped;
        await gateway.fetchers.closeAll();
      })()),
  };
}

/** Clients cannot connect to a wildcard address: advertise loopback instead. */
function advertisable(host: string): string {
  return host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
}
