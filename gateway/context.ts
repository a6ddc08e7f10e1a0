// What every handler is given: the gateway's shared parts, and the request's
// own header and client.
//
// Two shapes of gateway share the handlers. A `DataContext` is enough for the
// data path (Produce, Fetch, ApiVersions): the fast path, partition readers
// and a topic catalog. A `GatewayContext` — the gateway in the broker's
// process — adds the broker itself, consumer groups and idempotence, which
// every other API needs. A gateway of its own (`rdmq gateway`) has only a
// DataContext and forwards the rest to the broker's (see remote.ts).
import { Broker } from '../broker';
import { Connection, Producer } from '../rdma-client';
import type { ApiName, DecodedRequest, RequestBody, RequestHeader, ResponseInput } from './protocol';
import type { GroupCoordinator } from './broker-view';
import type { TopicCatalog } from './catalog';
import type { AclDecider } from './authorization';
import { GatewayLimits } from './config';
import { FetcherPool } from './fetchers';
import { IdempotentAppender } from './idempotence';
import { Leadership } from './leadership';
import type { CredentialLookup } from '../format/sasl';
import type { KafkaSession } from './security/session';
import { MemoryBudget } from './memory-budget';
import type { ProduceGroups } from './produce-groups';
import { GatewayMetrics } from './metrics';

export interface DataContext {
  /** The fast path, shared by every Kafka connection. */
  readonly connection: Connection;
  readonly producer: Producer;
  /** Produce batches through `producer`, those waiting on one partition folded into one write. */
  readonly produceGroups: ProduceGroups;
  readonly fetchers: FetcherPool;
  readonly catalog: TopicCatalog;
  readonly nodeId: number;
  readonly clusterId: string;
  readonly limits: GatewayLimits;
  readonly log: (message: string) => void;
  readonly metrics?: GatewayMetrics;
  /** Checks and records idempotent producers' sequences; only where the broker is. */
  readonly idempotence?: IdempotentAppender;
  /** Bytes of Fetch responses read and not yet written to their sockets, across every connection (limits.maxFetchMemoryBytes). */
  readonly fetchMemory: MemoryBudget;
  /** The broker's SCRAM users, for SASL logins; absent: every login fails. */
  readonly credentials?: CredentialLookup;
  /** ACL decisions (authorization.ts); absent: everything is allowed. */
  readonly acls?: AclDecider;
}

export interface GatewayContext extends DataContext {
  readonly broker: Broker;
  readonly groups: GroupCoordinator;
  readonly idempotence: IdempotentAppender;
  readonly leadership: Leadership;
  readonly autoCreateTopics: boolean;
}

export interface RequestContext<C extends DataContext = GatewayContext> {
  readonly gateway: C;
  readonly header: RequestHeader;
  readonly apiVersion: number;
  /** The client's address, as Kafka reports it in DescribeGroups. */
  readonly clientHost: string;
  /** The request frame as received (header and body), for forwarding it whole. */
  readonly frame: Buffer;
  /** The connection's listener and principal (`session.principal`: `User:<name>` or `User:ANONYMOUS`). */
  readonly session: KafkaSession;
  /**
   * Runs `release` once this request's response has been handed to the
   * kernel, or its connection closed: for memory held by the response. Absent
   * for forwarded requests, whose response leaves when the handler returns.
   */
  readonly afterWrite?: (release: () => void) => void;
}

/** A handler's answer when Kafka sends none (Produce with acks=0). */
export const NO_RESPONSE: unique symbol = Symbol('no response');

/** Thrown by a dispatcher that cannot answer (the broker is unreachable): the connection closes with one log line, as Kafka's would; clients reconnect and retry. */
export class AbandonRequest extends Error {}

/** A response already encoded elsewhere (by the broker's gateway), written as it is. */
export class EncodedResponse {
  constructor(readonly chunks: Buffer[]) {}
}

export type Handler<N extends ApiName, C extends DataContext = GatewayContext> = (
  body: RequestBody<N>,
  call: RequestContext<C>,
) => Promise<ResponseInput<N> | typeof NO_RESPONSE> | ResponseInput<N> | typeof NO_RESPONSE;

export type Answer = ResponseInput<ApiName> | typeof NO_RESPONSE | EncodedResponse;

/** Routes a decoded request to whatever answers it. */
export type Dispatcher<C extends DataContext> = (request: DecodedRequest, call: RequestContext<C>) => Promise<Answer>;
