// The ACL calls of the broker's control plane (broker.proto CreateAcls,
// DescribeAcls, DeleteAcls, GetAcls): `rdmq acls` and the ACL cache of
// gateways of their own. Callers on the control plane act as the cluster
// (the control plane's own credentials decide who may call it), so these
// calls are not ACL-checked themselves.
import type * as grpc from '@grpc/grpc-js';
import { isClusterMember } from '../../control-plane';
import type { MetadataStore } from '../topics';
import { AclBinding, AclFilter, ANONYMOUS_PRINCIPAL, Authorizer, parseEnumName } from './acls';
import { aclSnapshot, createAcls, deleteAcls, listAcls } from './acl-store';

/**
 * Who makes a control-plane call, for the calls that act for a client (the
 * SDK's group calls): a cluster member (its call proved the cluster secret)
 * or User:ANONYMOUS — gRPC calls carry no SASL login (the fast path does).
 */
export function callerOf(call: grpc.ServerUnaryCall<unknown, unknown>): { principal: string; clusterMember: boolean } {
  return { principal: ANONYMOUS_PRINCIPAL, clusterMember: isClusterMember(call.metadata) };
}

type Handler = (call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>) => Promise<unknown> | unknown;

type WireAcl = Record<keyof AclBinding, string>;

export function aclControlHandlers(metadata: () => MetadataStore, authorizer: () => Authorizer): Record<string, Handler> {
  return {
    createAcls: async (call) => {
      const bindings = ((call.request.bindings ?? []) as WireAcl[]).map(bindingFromWire);
      const outcomes = await createAcls(metadata(), bindings);
      const failed = outcomes.find((o) => o !== null);
      if (failed) throw failed;
      return {};
    },
    describeAcls: (call) => ({ bindings: listAcls(metadata(), filterFromWire(call.request as unknown as WireAcl)) }),
    deleteAcls: async (call) => {
      const filters = ((call.request.filters ?? []) as WireAcl[]).map(filterFromWire);
      const matched = await deleteAcls(metadata(), filters);
      return { bindings: matched.flat() };
    },
    getAcls: (call) => {
      const snapshot = aclSnapshot(metadata());
      const known = Number(call.request.knownVersion ?? -1);
      const settings = authorizer().options;
      const answer = { version: snapshot.version, superUsers: settings.superUsers, allowEveryoneIfNoAclFound: settings.allowEveryoneIfNoAclFound };
      return known === snapshot.version ? { ...answer, changed: false, bindings: [] } : { ...answer, changed: true, bindings: snapshot.bindings };
    },
  };
}

export function bindingFromWire(w: WireAcl): AclBinding {
  return {
    resourceType: parseEnumName('resource type', w.resourceType, ['TOPIC', 'GROUP', 'CLUSTER', 'TRANSACTIONAL_ID'] as const),
    resourceName: w.resourceName,
    patternType: parseEnumName('pattern type', w.patternType || 'LITERAL', ['LITERAL', 'PREFIXED'] as const),
    principal: w.principal,
    host: w.host || '*',
    operation: parseEnumName('operation', w.operation, [
      'ALL', 'READ', 'WRITE', 'CREATE', 'DELETE', 'ALTER', 'DESCRIBE', 'CLUSTER_ACTION', 'DESCRIBE_CONFIGS', 'ALTER_CONFIGS', 'IDEMPOTENT_WRITE',
    ] as const),
    permission: parseEnumName('permission', w.permission || 'ALLOW', ['ALLOW', 'DENY'] as const),
  };
}

export function filterFromWire(w: Partial<WireAcl>): AclFilter {
  const any = <T extends string>(what: string, text: string | undefined, allowed: readonly T[]): T | 'ANY' =>
    text ? parseEnumName(what, text, [...allowed, 'ANY'] as readonly (T | 'ANY')[]) : 'ANY';
  const filter: AclFilter = {
    resourceType: any('resource type', w.resourceType, ['TOPIC', 'GROUP', 'CLUSTER', 'TRANSACTIONAL_ID'] as const),
    resourceName: w.resourceName || null,
    patternType: any('pattern type', w.patternType, ['LITERAL', 'PREFIXED', 'MATCH'] as const),
    principal: w.principal || null,
    host: w.host || null,
    operation: any('operation', w.operation, [
      'ALL', 'READ', 'WRITE', 'CREATE', 'DELETE', 'ALTER', 'DESCRIBE', 'CLUSTER_ACTION', 'DESCRIBE_CONFIGS', 'ALTER_CONFIGS', 'IDEMPOTENT_WRITE',
    ] as const),
    permission: any('permission', w.permission, ['ALLOW', 'DENY'] as const),
  };
  return filter;
}

