// What every handler is given: the gateway's shared parts, and the request's
// own header and client.
import { Broker } from '../broker';
import { Connection, Producer } from '../rdma-client';
import type { ApiName, RequestBody, RequestHeader, ResponseInput } from './protocol';
import type { GroupCoordinator } from './broker-view';
import { GatewayLimits } from './config';
import { FetcherPool } from './fetchers';
import { IdempotentAppender } from './idempotence';
import { Leadership } from './leadership';
import { GatewayMetrics } from './metrics';

export interface GatewayContext {
  readonly broker: Broker;
  readonly groups: GroupCoordinator;
  /** The fast path, shared by every Kafka connection. */
  readonly connection: Connection;
  readonly producer: Producer;
  readonly fetchers: FetcherPool;
  readonly idempotence: IdempotentAppender;
  readonly leadership: Leadership;
  readonly nodeId: number;
  readonly clusterId: string;
  readonly autoCreateTopics: boolean;
  readonly limits: GatewayLimits;
  readonly log: (message: string) => void;
  readonly metrics?: GatewayMetrics;
}

export interface RequestContext {
  readonly gateway: GatewayContext;
  readonly header: RequestHeader;
  readonly apiVersion: number;
  /** The client's address, as Kafka reports it in DescribeGroups. */
  readonly clientHost: string;
}

/** A handler's answer when Kafka sends none (Produce with acks=0). */
export const NO_RESPONSE: unique symbol = Symbol('no response');

export type Handler<N extends ApiName> = (
  body: RequestBody<N>,
  call: RequestContext,
) => Promise<ResponseInput<N> | typeof NO_RESPONSE> | ResponseInput<N> | typeof NO_RESPONSE;
