// What each Kafka handler asks before it acts: may this connection's
// principal, from its host, do this operation on this resource? Kafka's
// answers and error codes (TOPIC/GROUP/CLUSTER/TRANSACTIONAL_ID
// _AUTHORIZATION_FAILED). A gateway without ACLs (`acls` absent) allows all.
import { aclHost, AclOperation, AclResourceType, ANONYMOUS_PRINCIPAL, AUTHORIZATION_ERROR_CODES, AuthorizationRequest, CLUSTER_RESOURCE_NAME } from '../broker';
import type { DataContext, RequestContext } from './context';
import type { KafkaErrorValue } from './errors';

/** Decides authorization requests: the broker's Authorizer in its own process, a cache of its ACLs in a gateway of its own (acl-cache.ts). */
export interface AclDecider {
  authorize(request: AuthorizationRequest): boolean;
  authorizeAny(request: Omit<AuthorizationRequest, 'resourceName'>): boolean;
}

/** Whoever the connection authenticated as (wt-auth sets it after SASL or mTLS); anonymous until then. */
export function principalOf(call: RequestContext<DataContext>): string {
  return call.session.principal ?? ANONYMOUS_PRINCIPAL;
}

export function allowed(call: RequestContext<DataContext>, operation: AclOperation, resourceType: AclResourceType, resourceName: string): boolean {
  const acls = call.gateway.acls;
  if (!acls) return true;
  return acls.authorize({ principal: principalOf(call), host: aclHost(call.clientHost), operation, resourceType, resourceName });
}

export const allowedOnTopic = (call: RequestContext<DataContext>, operation: AclOperation, topic: string): boolean => allowed(call, operation, 'TOPIC', topic);
export const allowedOnGroup = (call: RequestContext<DataContext>, operation: AclOperation, group: string): boolean => allowed(call, operation, 'GROUP', group);
export const allowedOnCluster = (call: RequestContext<DataContext>, operation: AclOperation): boolean => allowed(call, operation, 'CLUSTER', CLUSTER_RESOURCE_NAME);

/** Kafka 2.8+: an idempotent producer needs IDEMPOTENT_WRITE on the cluster or WRITE on some topic. */
export function allowedIdempotentWrite(call: RequestContext<DataContext>): boolean {
  const acls = call.gateway.acls;
  if (!acls) return true;
  return allowedOnCluster(call, 'IDEMPOTENT_WRITE') || acls.authorizeAny({ principal: principalOf(call), host: aclHost(call.clientHost), operation: 'WRITE', resourceType: 'TOPIC' });
}

const ERROR_NAMES: Record<AclResourceType, string> = {
  TOPIC: 'TOPIC_AUTHORIZATION_FAILED',
  GROUP: 'GROUP_AUTHORIZATION_FAILED',
  CLUSTER: 'CLUSTER_AUTHORIZATION_FAILED',
  TRANSACTIONAL_ID: 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
};

/** The Kafka error a refused operation answers with. */
export function deniedError(call: RequestContext<DataContext>, operation: AclOperation, resourceType: AclResourceType, resourceName: string): KafkaErrorValue {
  return {
    code: AUTHORIZATION_ERROR_CODES[resourceType],
    name: ERROR_NAMES[resourceType],
    message: `${principalOf(call)} is not authorized to ${operation} ${resourceType.toLowerCase().replace('_', ' ')} '${resourceName}'`,
  };
}

/** Null when allowed, else the error to answer with. */
export function refusal(call: RequestContext<DataContext>, operation: AclOperation, resourceType: AclResourceType, resourceName: string): KafkaErrorValue | null {
  return allowed(call, operation, resourceType, resourceName) ? null : deniedError(call, operation, resourceType, resourceName);
}
