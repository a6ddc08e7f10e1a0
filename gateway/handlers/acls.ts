// CreateAcls, DescribeAcls, DeleteAcls: the broker's ACL bindings over the
// Kafka door, as kafkajs' admin and kafka-acls.sh use them. Creating and
// deleting need ALTER on the cluster, describing DESCRIBE (Kafka's rule).
import {
  AclBinding,
  AclError,
  AclFilter,
  createAcls as storeAcls,
  deleteAcls as removeAcls,
  listAcls,
  OPERATION_CODES,
  operationOfCode,
  PATTERN_TYPE_CODES,
  patternTypeOfCode,
  PERMISSION_CODES,
  permissionOfCode,
  RESOURCE_TYPE_CODES,
  resourceTypeOfCode,
} from '../../broker';
import { allowedOnCluster, deniedError } from '../authorization';
import { Handler } from '../context';
import { toKafkaError } from '../errors';

export const createAcls: Handler<'CreateAcls'> = async (body, call) => {
  if (!allowedOnCluster(call, 'ALTER')) {
    const error = deniedError(call, 'ALTER', 'CLUSTER', 'kafka-cluster');
    return { throttleTimeMs: 0, results: body.creations.map(() => ({ errorCode: error.code, errorMessage: error.message })) };
  }
  const parsed = body.creations.map((c) => {
    try {
      return bindingOf(c, c.resourcePatternType);
    } catch (err) {
      return err as AclError;
    }
  });
  const valid = parsed.filter((p): p is AclBinding => !(p instanceof Error));
  let stored: (AclError | null)[];
  try {
    stored = await storeAcls(call.gateway.broker.metadata, valid);
  } catch (err) {
    const error = toKafkaError(err);
    return { throttleTimeMs: 0, results: body.creations.map(() => ({ errorCode: error.code, errorMessage: error.message })) };
  }
  let next = 0;
  const results = parsed.map((p) => {
    const failure = p instanceof Error ? p : stored[next++];
    return failure ? { errorCode: failure.kafkaErrorCode, errorMessage: failure.message } : { errorCode: 0, errorMessage: null };
  });
  return { throttleTimeMs: 0, results };
};

export const describeAcls: Handler<'DescribeAcls'> = (body, call) => {
  const none = { throttleTimeMs: 0, resources: [] };
  if (!allowedOnCluster(call, 'DESCRIBE')) {
    const error = deniedError(call, 'DESCRIBE', 'CLUSTER', 'kafka-cluster');
    return { ...none, errorCode: error.code, errorMessage: error.message };
  }
  let filter: AclFilter;
  try {
    filter = filterOf(body, call.apiVersion);
  } catch (err) {
    const error = toKafkaError(err);
    return { ...none, errorCode: error.code, errorMessage: error.message };
  }
  // Kafka groups the bindings by resource pattern.
  const byResource = new Map<string, { resourceType: number; resourceName: string; patternType: number; acls: { principal: string; host: string; operation: number; permissionType: number }[] }>();
  for (const b of listAcls(call.gateway.broker.metadata, filter)) {
    const key = JSON.stringify([b.resourceType, b.patternType, b.resourceName]);
    let resource = byResource.get(key);
    if (!resource) {
      byResource.set(key, (resource = { resourceType: RESOURCE_TYPE_CODES[b.resourceType], resourceName: b.resourceName, patternType: PATTERN_TYPE_CODES[b.patternType], acls: [] }));
    }
    resource.acls.push({ principal: b.principal, host: b.host, operation: OPERATION_CODES[b.operation], permissionType: PERMISSION_CODES[b.permission] });
  }
  return { throttleTimeMs: 0, errorCode: 0, errorMessage: null, resources: [...byResource.values()] };
};

export const deleteAcls: Handler<'DeleteAcls'> = async (body, call) => {
  if (!allowedOnCluster(call, 'ALTER')) {
    const error = deniedError(call, 'ALTER', 'CLUSTER', 'kafka-cluster');
    return { throttleTimeMs: 0, filterResults: body.filters.map(() => ({ errorCode: error.code, errorMessage: error.message, matchingAcls: [] })) };
  }
  const parsed = body.filters.map((f) => {
    try {
      return filterOf(f, call.apiVersion);
    } catch (err) {
      return err as Error;
    }
  });
  const valid = parsed.filter((p): p is AclFilter => !(p instanceof Error));
  let matched: AclBinding[][];
  try {
    matched = await removeAcls(call.gateway.broker.metadata, valid);
  } catch (err) {
    const error = toKafkaError(err);
    return { throttleTimeMs: 0, filterResults: body.filters.map(() => ({ errorCode: error.code, errorMessage: error.message, matchingAcls: [] })) };
  }
  let next = 0;
  const filterResults = parsed.map((p) => {
    if (p instanceof Error) {
      const error = toKafkaError(p);
      return { errorCode: error.code, errorMessage: error.message, matchingAcls: [] };
    }
    return {
      errorCode: 0,
      errorMessage: null,
      matchingAcls: matched[next++].map((b) => ({
        errorCode: 0,
        errorMessage: null,
        resourceType: RESOURCE_TYPE_CODES[b.resourceType],
        resourceName: b.resourceName,
        patternType: PATTERN_TYPE_CODES[b.patternType],
        principal: b.principal,
        host: b.host,
        operation: OPERATION_CODES[b.operation],
        permissionType: PERMISSION_CODES[b.permission],
      })),
    };
  });
  return { throttleTimeMs: 0, filterResults };
};

interface WireBinding {
  resourceType: number;
  resourceName: string;
  principal: string;
  host: string;
  operation: number;
  permissionType: number;
}

/** A binding to create from its wire codes; throws AclError naming a code that cannot be stored. */
function bindingOf(c: WireBinding, patternCode: number): AclBinding {
  const resourceType = resourceTypeOfCode(c.resourceType);
  const patternType = patternTypeOfCode(patternCode);
  const operation = operationOfCode(c.operation);
  const permission = permissionOfCode(c.permissionType);
  if (!resourceType || resourceType === 'ANY') throw new AclError(`resource type ${c.resourceType} cannot be stored: TOPIC (2), GROUP (3), CLUSTER (4) or TRANSACTIONAL_ID (5)`);
  if (patternType !== 'LITERAL' && patternType !== 'PREFIXED') throw new AclError(`pattern type ${patternCode} cannot be stored: LITERAL (3) or PREFIXED (4)`);
  if (!operation || operation === 'ANY') throw new AclError(`operation ${c.operation} cannot be stored`);
  if (!permission || permission === 'ANY') throw new AclError(`permission type ${c.permissionType} cannot be stored: DENY (2) or ALLOW (3)`);
  return { resourceType, resourceName: c.resourceName, patternType, principal: c.principal, host: c.host, operation, permission };
}

interface WireFilter {
  resourceTypeFilter: number;
  resourceNameFilter: string | null;
  patternTypeFilter: number;
  principalFilter: string | null;
  hostFilter: string | null;
  operation: number;
  permissionType: number;
}

function filterOf(f: WireFilter, apiVersion: number): AclFilter {
  const resourceType = resourceTypeOfCode(f.resourceTypeFilter);
  const patternType = patternTypeOfCode(apiVersion === 0 ? PATTERN_TYPE_CODES.LITERAL : f.patternTypeFilter);
  const operation = operationOfCode(f.operation);
  const permission = permissionOfCode(f.permissionType);
  if (!resourceType || !patternType || !operation || !permission) {
    throw new AclError('the filter has an unknown resource type, pattern type, operation or permission code');
  }
  return { resourceType, resourceName: f.resourceNameFilter, patternType, principal: f.principalFilter, host: f.hostFilter, operation, permission };
}

