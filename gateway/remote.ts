// A gateway of its own: `rdmq gateway --kafka HOST:PORT --control HOST:PORT`.
//
// It answers the data path itself — Produce and Fetch through the fast path,
// like any SDK client, plus ApiVersions — and forwards every other request
// (metadata, groups, offsets, admin, producer ids) whole to the broker, whose
// own gateway answers it exactly as if the client had sent it there. An
// idempotent Produce is forwarded too: sequence numbers are checked in one
// place. While its Join call to the broker is open it is listed in Metadata
// and leads its share of the partitions.
import { Registry } from 'prom-client';
import { PRODUCER_ID_OFFSET, RECORD_BATCH_OVERHEAD } from '../format';
import { Connection } from '../rdma-client';
import { RemoteAcls } from './acl-cache';
import { RemoteCatalog } from './catalog';
import { GatewayLimits, GatewayLimitsInput, parseGatewayLimits } from './config';
import { MemoryBudget } from './memory-budget';
import { GatewayMetrics } from './metrics';
import { AbandonRequest, DataContext, Dispatcher, EncodedResponse, Handler } from './context';
import { dataHandlers } from './dispatch';
import { HubClient, Membership } from './hub';
import type { ApiName, RequestBody } from './protocol';
import { FastPathParts, fastPathParts, KafkaListenerOptions, KafkaListeners, listenAll } from './server';
import { CachedCredentials, UsersClient } from '../broker';

export interface RemoteGatewayOptions {
  /** The broker's control address, HOST:PORT; an HA group's as 'A,B' (the gateway follows the leader). */
  control: string;
  /** Address to listen on for Kafka clients; port 0 picks a free one. Ignored when `listeners` is given. */
  host: string;
  port: number;
  /** Several listeners; one PLAINTEXT listener on host:port when not given. */
  listeners?: KafkaListenerOptions[];
  /** How long a credential fetched from the broker is used for new SASL logins (ms; default 5000). */
  credentialTtlMs?: number;
  /** Host clients are told to connect to; defaults to `host` (loopback for a wildcard). */
  advertisedHost?: string;
  advertisedPort?: number;
  /** This gateway's Kafka broker id; the lowest free one when not given. */
  nodeId?: number;
  rack?: string;
  limits?: GatewayLimitsInput;
  /** How old the cached topic list may get before it is fetched again (ms). */
  metadataMaxAgeMs?: number;
  /** How often the broker's ACLs are checked for changes (ms; acl-cache.ts). */
  aclRefreshMs?: number;
  /** How soon to try again after losing the broker (ms). */
  rejoinDelayMs?: number;
  /** Aborting it while the gateway starts ends the start (its search for a leader too), before it listens or joins. */
  signal?: AbortSignal;
  log?: (message: string) => void;
  metrics?: Registry;
}

export interface RunningRemoteGateway {
  port: number;
  /** Each listener's bound port, by name. */
  ports: Record<string, number>;
  nodeId: number;
  readonly connectionCount: number;
  /** Leaves the cluster, closes Kafka connections, readers and the fast-path connection. */
  close(): Promise<void>;
}

export async function startRemoteGateway(options: RemoteGatewayOptions): Promise<RunningRemoteGateway> {
  const limits = parseGatewayLimits(options.limits ?? {});
  const log = options.log ?? (() => undefined);
  const rejoinDelayMs = options.rejoinDelayMs ?? 1000;
  const hubMessageBytes = limits.maxFrameBytes + 64 * 1024;
  let listener: KafkaListeners | undefined;
  let users: { address: string; client: UsersClient } | undefined;
  let link: DataLink | undefined;
  // The hub of the broker the fast-path connection found (the leader, in an HA group).
  let hub: HubClient | undefined;
  let acls: RemoteAcls | undefined;
  try {
    link = await openLink(options.control, limits, log, options.signal);
    options.signal?.throwIfAborted();
    hub = new HubClient(link.connection.controlAddress, hubMessageBytes);
    const specs = options.listeners ?? [{ name: 'PLAINTEXT', protocol: 'PLAINTEXT' as const, host: options.host, port: options.port, advertisedHost: options.advertisedHost, advertisedPort: options.advertisedPort }];
    listener = await listenAll(specs, limits, log);
    const advertised = listener.advertised(specs);
    const self = {
      nodeId: options.nodeId,
      host: advertised[0].host,
      port: advertised[0].port,
      rack: options.rack ?? null,
      listeners: advertised,
    };
    let closed = false;
    // Each join has a generation: only the current one's end means the broker is lost.
    let generation = 0;
    let rejoining = false;
    let joined = await hub.join(self, lostOf(0));
    const nodeId = joined.membership.nodeId;
    log(`gateway ${nodeId} joined the broker at ${link.connection.controlAddress}: ${describe(joined.membership)}`);
    followLeader(link, 0);

    function lostOf(joinGeneration: number): (err: Error) => void {
      return (err) => {
        if (joinGeneration === generation) lost(err);
      };
    }

    // The broker went (or restarted, or an HA group's leader moved): join again under the same node id, on a new fast-path connection.
    function lost(err: Error): void {
      if (closed || rejoining) return;
      rejoining = true;
      log(`gateway ${joined.membership.nodeId} lost the broker (${err.message}); joining again in ${rejoinDelayMs} ms`);
      setTimeout(
        () =>
          void rejoin().then(
            () => (rejoining = false),
            (e: Error) => {
              rejoining = false;
              lost(e);
            },
          ),
        rejoinDelayMs,
      ).unref();
    }

    /** The fast-path connection found a new leader by itself: the hub's membership must move there too. */
    function followLeader(l: DataLink, joinGeneration: number): void {
      const joinedAt = l.connection.controlAddress;
      l.connection.on('reconnected', () => {
        if (joinGeneration === generation && l.connection.controlAddress !== joinedAt) lost(new Error(`the leader is now at ${l.connection.controlAddress}`));
      });
    }

    async function rejoin(): Promise<void> {
      if (closed) return;
      const fresh = await openLink(options.control, limits, log);
      const freshHub = new HubClient(fresh.connection.controlAddress, hubMessageBytes);
      const freshGeneration = generation + 1;
      const again = await freshHub.join({ ...self, nodeId }, lostOf(freshGeneration)).catch(async (err: Error) => {
        freshHub.close();
        await fresh.close();
        throw err;
      });
      if (closed) {
        again.leave();
        freshHub.close();
        return fresh.close();
      }
      const old = link!;
      const oldHub = hub!;
      const oldJoin = joined;
      generation = freshGeneration;
      link = fresh;
      hub = freshHub;
      joined = again;
      oldJoin.leave();
      oldHub.close();
      followLeader(fresh, freshGeneration);
      log(`gateway ${nodeId} joined again at ${fresh.connection.controlAddress}: ${describe(again.membership)}`);
      void old.close().catch((e: Error) => log(`closing the old fast-path connection: ${e.message}`));
    }

    // Handlers read the link through the context on every request, so a new link takes over at once.
    const current = (): DataLink => link!;
    acls = new RemoteAcls(() => current().connection, options.aclRefreshMs ?? 500, log);
    await acls.start();
    const context: DataContext = {
      get connection() {
        return current().connection;
      },
      get producer() {
        return current().producer;
      },
      get produceGroups() {
        return current().produceGroups;
      },
      get fetchers() {
        return current().fetchers;
      },
      catalog: new RemoteCatalog(() => current().connection, options.metadataMaxAgeMs ?? 1000, 100, log),
      nodeId,
      clusterId: link.connection.cluster.clusterId,
      limits,
      log,
      fetchMemory: new MemoryBudget(limits.maxFetchMemoryBytes),
      metrics: options.metrics ? new GatewayMetrics(options.metrics) : undefined,
      credentials: (user, mechanism) => credentials.lookup(user, mechanism),
      acls,
    };
    // Logins are checked here with credentials fetched from the leader's Users service, kept a few seconds.
    const usersAt = (): UsersClient => {
      const address = current().connection.controlAddress;
      if (users?.address !== address) {
        users?.client.close();
        users = { address, client: new UsersClient(address) };
      }
      return users.client;
    };
    const credentials = new CachedCredentials((user, mechanism) => usersAt().credential(user, mechanism), options.credentialTtlMs ?? 5000);
    context.metrics?.observeProduceGroups(() => current().produceGroups);
    context.metrics?.observeFetchers(() => current().fetchers);
    listener.serve(context, forwardingDispatcher(() => hub!));
    const serving = listener;
    return {
      port: listener.port,
      ports: listener.ports,
      nodeId,
      get connectionCount() {
        return serving.connectionCount;
      },
      close: async () => {
        if (closed) return;
        closed = true;
        joined.leave();
        acls!.close();
        await serving.close();
        await current().close();
        hub!.close();
        users?.client.close();
      },
    };
  } catch (err) {
    acls?.close();
    await listener?.close();
    await link?.close();
    hub?.close();
    throw err;
  }
}

/** The fast-path side of a gateway: one connection to the broker, its producer and readers. */
interface DataLink extends FastPathParts {
  close(): Promise<void>;
}

async function openLink(control: string, limits: GatewayLimits, log: (message: string) => void, signal?: AbortSignal): Promise<DataLink> {
  // A gateway waits for an HA group's election rather than failing at once.
  const parts = fastPathParts(await Connection.open({ control, leaderWaitMs: control.includes(',') ? 30_000 : 0, signal }), limits, log);
  return {
    ...parts,
    close: async () => {
      await parts.fetchers.closeAll();
      await parts.connection.close();
    },
  };
}

/** The data path here; everything else, and idempotent produces, to the broker. */
function forwardingDispatcher(hub: () => HubClient): Dispatcher<DataContext> {
  const local = dataHandlers as { [N in ApiName]?: Handler<N, DataContext> };
  return async (request, call) => {
    const handler = local[request.apiName] as Handler<ApiName, DataContext> | undefined;
    if (handler && !(request.apiName === 'Produce' && isIdempotent(request.body as RequestBody<'Produce'>))) {
      return handler(request.body as never, call);
    }
    try {
      return new EncodedResponse(await hub().forward(call.frame, call.clientHost, call.session));
    } catch (err) {
      throw new AbandonRequest((err as Error).message);
    }
  };
}

/** Whether any batch of the request carries a producer id (the broker checks its sequence). */
function isIdempotent(body: RequestBody<'Produce'>): boolean {
  return body.topicData.some((t) =>
    t.partitionData.some((p) => p.records !== null && p.records.length >= RECORD_BATCH_OVERHEAD && p.records.readBigInt64BE(PRODUCER_ID_OFFSET) >= 0n),
  );
}

function describe(m: Membership): string {
  return `${m.nodes.length} gateway(s): ${m.nodes.map((n) => `${n.nodeId}@${n.host}:${n.port}`).join(', ')}`;
}
