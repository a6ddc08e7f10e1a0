// ACLs: Kafka's model and authorizer semantics, kept in the broker's metadata.
//
// A binding says: principal P from host H may (ALLOW) or may not (DENY) do
// operation O on a resource pattern (type, name, LITERAL or PREFIXED). The
// decision follows Kafka's AclAuthorizer:
//   - a super user may do everything;
//   - the bindings that apply to a resource are its LITERAL name, LITERAL '*'
//     and every PREFIXED pattern the name starts with;
//   - a DENY for the principal (or User:*), host (or '*') and operation (or
//     ALL) wins over any ALLOW;
//   - with no binding at all for the resource, `allowEveryoneIfNoAclFound`
//     decides;
//   - an ALLOW of READ, WRITE, DELETE or ALTER implies DESCRIBE, and of
//     ALTER_CONFIGS implies DESCRIBE_CONFIGS (a DENY implies nothing).
//
// The records (AclsCreated, AclsDeleted) carry concrete bindings, so replay
// never depends on how a filter was matched when it was written.

/** The one cluster resource's name, as Kafka names it. */
export const CLUSTER_RESOURCE_NAME = 'kafka-cluster';
export const ANONYMOUS_PRINCIPAL = 'User:ANONYMOUS';
export const WILDCARD = '*';

// Kafka's wire codes (org.apache.kafka.common.resource / acl).
export const RESOURCE_TYPE_CODES = { ANY: 1, TOPIC: 2, GROUP: 3, CLUSTER: 4, TRANSACTIONAL_ID: 5 } as const;
export const PATTERN_TYPE_CODES = { ANY: 1, MATCH: 2, LITERAL: 3, PREFIXED: 4 } as const;
export const OPERATION_CODES = {
  ANY: 1,
  ALL: 2,
  READ: 3,
  WRITE: 4,
  CREATE: 5,
  DELETE: 6,
  ALTER: 7,
  DESCRIBE: 8,
  CLUSTER_ACTION: 9,
  DESCRIBE_CONFIGS: 10,
  ALTER_CONFIGS: 11,
  IDEMPOTENT_WRITE: 12,
} as const;
export const PERMISSION_CODES = { ANY: 1, DENY: 2, ALLOW: 3 } as const;

export type AclResourceType = Exclude<keyof typeof RESOURCE_TYPE_CODES, 'ANY'>;
export type AclPatternType = 'LITERAL' | 'PREFIXED';
export type AclOperation = Exclude<keyof typeof OPERATION_CODES, 'ANY'>;
export type AclPermission = Exclude<keyof typeof PERMISSION_CODES, 'ANY'>;

export interface AclBinding {
  resourceType: AclResourceType;
  resourceName: string;
  patternType: AclPatternType;
  principal: string;
  host: string;
  operation: AclOperation;
  permission: AclPermission;
}

/** What Describe/DeleteAcls match: null fields and ANY match everything; MATCH matches what applies to the named resource. */
export interface AclFilter {
  resourceType: AclResourceType | 'ANY';
  resourceName: string | null;
  patternType: AclPatternType | 'ANY' | 'MATCH';
  principal: string | null;
  host: string | null;
  operation: AclOperation | 'ANY';
  permission: AclPermission | 'ANY';
}

export const MATCH_ALL_ACLS: AclFilter = {
  resourceType: 'ANY',
  resourceName: null,
  patternType: 'ANY',
  principal: null,
  host: null,
  operation: 'ANY',
  permission: 'ANY',
};

/** A bad binding or filter; the Kafka APIs answer it with INVALID_REQUEST (42). */
export class AclError extends Error {
  readonly kafkaErrorCode = 42;
  readonly retriable = false;
  constructor(message: string) {
    super(message);
    this.name = 'AclError';
  }
}

/** A refused operation, with the Kafka error code of its resource type. */
export class AuthorizationError extends Error {
  readonly kafkaErrorCode: number;
  readonly retriable = false;
  constructor(
    readonly principal: string,
    readonly operation: AclOperation,
    readonly resourceType: AclResourceType,
    readonly resourceName: string,
  ) {
    super(`${principal} is not authorized to ${operation} ${resourceType.toLowerCase().replace('_', ' ')} '${resourceName}'`);
    this.name = 'AuthorizationError';
    this.kafkaErrorCode = AUTHORIZATION_ERROR_CODES[resourceType];
  }
}

/** TOPIC_AUTHORIZATION_FAILED, GROUP_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED, TRANSACTIONAL_ID_AUTHORIZATION_FAILED. */
export const AUTHORIZATION_ERROR_CODES: Record<AclResourceType, number> = { TOPIC: 29, GROUP: 30, CLUSTER: 31, TRANSACTIONAL_ID: 53 };

// ---- Names and validation ---------------------------------------------------

const MAX_NAME_LENGTH = 1024;
/** Bindings a broker keeps; every Produce consults them, so they are bounded. */
export const MAX_ACL_BINDINGS = 100_000;

function codeName<T extends Record<string, number>>(codes: T, code: number): keyof T | undefined {
  return (Object.keys(codes) as (keyof T)[]).find((k) => codes[k] === code);
}

export function resourceTypeOfCode(code: number): AclResourceType | 'ANY' | undefined {
  return codeName(RESOURCE_TYPE_CODES, code);
}
export function patternTypeOfCode(code: number): AclPatternType | 'ANY' | 'MATCH' | undefined {
  return codeName(PATTERN_TYPE_CODES, code);
}
export function operationOfCode(code: number): AclOperation | 'ANY' | undefined {
  return codeName(OPERATION_CODES, code);
}
export function permissionOfCode(code: number): AclPermission | 'ANY' | undefined {
  return codeName(PERMISSION_CODES, code);
}

/** Parses a name as users type it (`read`, `Describe-Configs`, `TOPIC`) into Kafka's enum name. */
export function parseEnumName<T extends string>(what: string, text: string, allowed: readonly T[]): T {
  const name = text.trim().toUpperCase().replace(/[- ]/g, '_');
  if (!(allowed as readonly string[]).includes(name)) throw new AclError(`unknown ${what} '${text}'; one of: ${allowed.map((a) => a.toLowerCase()).join(', ')}`);
  return name as T;
}

export const ACL_OPERATIONS = Object.keys(OPERATION_CODES).filter((k) => k !== 'ANY') as AclOperation[];
export const ACL_RESOURCE_TYPES = Object.keys(RESOURCE_TYPE_CODES).filter((k) => k !== 'ANY') as AclResourceType[];

/** Operations that mean something on each resource type (Kafka's table in the authorization docs). */
const OPERATIONS_BY_RESOURCE: Record<AclResourceType, readonly AclOperation[]> = {
  TOPIC: ['ALL', 'READ', 'WRITE', 'CREATE', 'DELETE', 'ALTER', 'DESCRIBE', 'DESCRIBE_CONFIGS', 'ALTER_CONFIGS'],
  GROUP: ['ALL', 'READ', 'DELETE', 'DESCRIBE'],
  CLUSTER: ['ALL', 'CREATE', 'ALTER', 'DESCRIBE', 'CLUSTER_ACTION', 'DESCRIBE_CONFIGS', 'ALTER_CONFIGS', 'IDEMPOTENT_WRITE'],
  TRANSACTIONAL_ID: ['ALL', 'WRITE', 'DESCRIBE'],
};

const PRINCIPAL = /^[A-Za-z][A-Za-z0-9_-]*:.+$/;

/** Checks a binding to be stored; throws AclError saying what is allowed. */
export function validateBinding(b: AclBinding): void {
  if (!ACL_RESOURCE_TYPES.includes(b.resourceType)) throw new AclError(`resource type must be one of ${ACL_RESOURCE_TYPES.join(', ')}, got ${String(b.resourceType)}`);
  if (b.patternType !== 'LITERAL' && b.patternType !== 'PREFIXED') throw new AclError(`pattern type of a binding must be LITERAL or PREFIXED, got ${String(b.patternType)}`);
  if (typeof b.resourceName !== 'string' || b.resourceName.length === 0 || b.resourceName.length > MAX_NAME_LENGTH) {
    throw new AclError(`resource name must be 1 to ${MAX_NAME_LENGTH} characters`);
  }
  if (b.patternType === 'PREFIXED' && b.resourceName === WILDCARD) throw new AclError("a PREFIXED pattern cannot be '*'; use LITERAL '*' for every resource");
  if (b.resourceType === 'CLUSTER' && (b.resourceName !== CLUSTER_RESOURCE_NAME || b.patternType !== 'LITERAL')) {
    throw new AclError(`the cluster resource is LITERAL '${CLUSTER_RESOURCE_NAME}'`);
  }
  if (typeof b.principal !== 'string' || b.principal.length > MAX_NAME_LENGTH || !PRINCIPAL.test(b.principal)) {
    throw new AclError(`principal must look like 'User:alice' or 'User:*', got ${JSON.stringify(b.principal)}`);
  }
  if (typeof b.host !== 'string' || b.host.length === 0 || b.host.length > 255) throw new AclError(`host must be '*' or an IP address, got ${JSON.stringify(b.host)}`);
  if (!OPERATIONS_BY_RESOURCE[b.resourceType].includes(b.operation)) {
    throw new AclError(`operation ${String(b.operation)} does not apply to ${b.resourceType}; one of ${OPERATIONS_BY_RESOURCE[b.resourceType].join(', ')}`);
  }
  if (b.permission !== 'ALLOW' && b.permission !== 'DENY') throw new AclError(`permission must be ALLOW or DENY, got ${String(b.permission)}`);
}

export function bindingKey(b: AclBinding): string {
  return JSON.stringify([b.resourceType, b.patternType, b.resourceName, b.principal, b.host, b.operation, b.permission]);
}

// ---- Filters -----------------------------------------------------------------

/** Whether a stored binding matches a Describe/DeleteAcls filter (Kafka's AclBindingFilter.matches). */
export function filterMatches(filter: AclFilter, b: AclBinding): boolean {
  if (filter.resourceType !== 'ANY' && filter.resourceType !== b.resourceType) return false;
  if (filter.principal !== null && filter.principal !== b.principal) return false;
  if (filter.host !== null && filter.host !== b.host) return false;
  if (filter.operation !== 'ANY' && filter.operation !== b.operation) return false;
  if (filter.permission !== 'ANY' && filter.permission !== b.permission) return false;
  switch (filter.patternType) {
    case 'ANY':
      return filter.resourceName === null || filter.resourceName === b.resourceName;
    case 'MATCH':
      return filter.resourceName === null || patternApplies(b, filter.resourceName);
    default:
      return filter.patternType === b.patternType && (filter.resourceName === null || filter.resourceName === b.resourceName);
  }
}

/** Whether a binding's pattern covers a resource name. */
function patternApplies(b: Pick<AclBinding, 'patternType' | 'resourceName'>, name: string): boolean {
  if (b.patternType === 'PREFIXED') return name.startsWith(b.resourceName);
  return b.resourceName === WILDCARD || b.resourceName === name;
}

// ---- State and records ---------------------------------------------------------

/** Bindings by bindingKey; `version` counts changes (gateways compare it to know when to reload). */
export interface AclState {
  version: number;
  bindings: Map<string, AclBinding>;
}

export type AclRecord = { type: 'AclsCreated'; bindings: AclBinding[] } | { type: 'AclsDeleted'; bindings: AclBinding[] };

export function initialAclState(): AclState {
  return { version: 0, bindings: new Map() };
}

/** Applies an ACL record; deterministic, no I/O. */
export function applyAclRecord(state: AclState, record: AclRecord): AclState {
  for (const b of record.bindings) {
    const key = bindingKey(b);
    if (record.type === 'AclsCreated') state.bindings.set(key, { ...b });
    else state.bindings.delete(key);
  }
  state.version++;
  return state;
}

/** The record that creates these bindings (validated), or null when all exist already. */
export function aclsCreatedRecord(state: AclState, bindings: AclBinding[]): AclRecord | null {
  for (const b of bindings) validateBinding(b);
  const fresh = new Map<string, AclBinding>();
  for (const b of bindings) if (!state.bindings.has(bindingKey(b))) fresh.set(bindingKey(b), b);
  if (fresh.size === 0) return null;
  if (state.bindings.size + fresh.size > MAX_ACL_BINDINGS) {
    throw new AclError(`this broker holds ${state.bindings.size} ACL bindings; ${fresh.size} more exceed the limit of ${MAX_ACL_BINDINGS}`);
  }
  return { type: 'AclsCreated', bindings: [...fresh.values()].map(copyBinding) };
}

/** The bindings each filter matches, and the record that deletes them all (null when none). */
export function aclsDeletedRecord(state: AclState, filters: AclFilter[]): { matched: AclBinding[][]; record: AclRecord | null } {
  const all = [...state.bindings.values()];
  const matched = filters.map((f) => all.filter((b) => filterMatches(f, b)).map(copyBinding));
  const unique = new Map<string, AclBinding>();
  for (const list of matched) for (const b of list) unique.set(bindingKey(b), b);
  return { matched, record: unique.size === 0 ? null : { type: 'AclsDeleted', bindings: [...unique.values()] } };
}

export function describeAcls(state: AclState, filter: AclFilter): AclBinding[] {
  return [...state.bindings.values()].filter((b) => filterMatches(filter, b)).map(copyBinding).sort(compareBindings);
}

function copyBinding(b: AclBinding): AclBinding {
  return {
    resourceType: b.resourceType,
    resourceName: b.resourceName,
    patternType: b.patternType,
    principal: b.principal,
    host: b.host,
    operation: b.operation,
    permission: b.permission,
  };
}

function compareBindings(a: AclBinding, b: AclBinding): number {
  const ka = bindingKey(a);
  const kb = bindingKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

// ---- Authorizer ------------------------------------------------------------------

/** Everything a decision depends on besides the bindings: who, from where, what, on which resource. */
export interface AuthorizationRequest {
  principal: string;
  /** The client's IP address. */
  host: string;
  operation: AclOperation;
  resourceType: AclResourceType;
  resourceName: string;
}

export interface AuthorizerOptions {
  /** Kafka's super.users: principals allowed everything. */
  superUsers?: readonly string[];
  /**
   * Kafka's allow.everyone.if.no.acl.found. rdmq's default is true, so a
   * cluster without ACLs (`rdmq start` on loopback) works with no set-up;
   * once a resource has any binding, only what its bindings allow is allowed.
   */
  allowEveryoneIfNoAclFound?: boolean;
}

/** Decisions remembered per bindings version; past this many the memory starts over. */
const DECISIONS_CACHED_MAX = 10_000;

/** ALLOWs of these imply the key's operation too (DENYs imply nothing). */
const IMPLIED_BY: Partial<Record<AclOperation, readonly AclOperation[]>> = {
  DESCRIBE: ['DESCRIBE', 'READ', 'WRITE', 'DELETE', 'ALTER', 'ALL'],
  DESCRIBE_CONFIGS: ['DESCRIBE_CONFIGS', 'ALTER_CONFIGS', 'ALL'],
};

/**
 * Decides requests against a changing set of bindings, read through
 * `bindings()` (the broker's durable state, or a gateway's cached copy).
 * Bindings are indexed by resource type and rebuilt when `version()` moves.
 */
export class Authorizer {
  private readonly superUsers: ReadonlySet<string>;
  readonly allowEveryoneIfNoAclFound: boolean;
  /** As given, for gateways that decide with the same settings. */
  readonly options: Required<AuthorizerOptions>;
  private indexedVersion = -1;
  private byType = new Map<AclResourceType, AclBinding[]>();
  private readonly decisions = new Map<string, boolean>();

  constructor(
    private readonly source: () => { version: number; bindings: Iterable<AclBinding> },
    options: AuthorizerOptions = {},
  ) {
    this.superUsers = new Set(options.superUsers ?? []);
    this.allowEveryoneIfNoAclFound = options.allowEveryoneIfNoAclFound ?? true;
    this.options = { superUsers: [...this.superUsers], allowEveryoneIfNoAclFound: this.allowEveryoneIfNoAclFound };
  }

  authorize(request: AuthorizationRequest): boolean {
    if (this.superUsers.has(request.principal)) return true;
    // Every stage of the fast path asks: decisions are remembered until the bindings change.
    this.bindingsOf(request.resourceType);
    const key = `${request.operation}\u0000${request.resourceType}\u0000${request.resourceName}\u0000${request.principal}\u0000${request.host}`;
    const known = this.decisions.get(key);
    if (known !== undefined) return known;
    const decision = this.decide(request);
    if (this.decisions.size >= DECISIONS_CACHED_MAX) this.decisions.clear();
    this.decisions.set(key, decision);
    return decision;
  }

  private decide(request: AuthorizationRequest): boolean {
    const applicable = this.bindingsOf(request.resourceType).filter((b) => patternApplies(b, request.resourceName));
    if (applicable.length === 0) return this.allowEveryoneIfNoAclFound;
    const mine = applicable.filter(
      (b) => (b.principal === request.principal || b.principal === 'User:*') && (b.host === WILDCARD || b.host === request.host),
    );
    if (mine.some((b) => b.permission === 'DENY' && (b.operation === request.operation || b.operation === 'ALL'))) return false;
    const allowing = IMPLIED_BY[request.operation] ?? [request.operation, 'ALL'];
    return mine.some((b) => b.permission === 'ALLOW' && allowing.includes(b.operation));
  }

  /**
   * Whether the principal may do the operation on some resource of the type
   * (Kafka's authorizeByResourceType, used for idempotent producers): an
   * ALLOW for it not cancelled by a DENY on every resource ('*'). With
   * allowEveryoneIfNoAclFound, some resource may have no bindings at all, so
   * the answer is yes.
   */
  authorizeAny(request: Omit<AuthorizationRequest, 'resourceName'>): boolean {
    if (this.superUsers.has(request.principal) || this.allowEveryoneIfNoAclFound) return true;
    const mine = this.bindingsOf(request.resourceType).filter(
      (b) => (b.principal === request.principal || b.principal === 'User:*') && (b.host === WILDCARD || b.host === request.host),
    );
    const ops = [request.operation, 'ALL'];
    if (mine.some((b) => b.permission === 'DENY' && b.patternType === 'LITERAL' && b.resourceName === WILDCARD && ops.includes(b.operation))) return false;
    return mine.some((b) => b.permission === 'ALLOW' && ops.includes(b.operation));
  }

  /** Throws AuthorizationError (with the resource type's Kafka code) unless allowed. */
  check(request: AuthorizationRequest): void {
    if (!this.authorize(request)) throw new AuthorizationError(request.principal, request.operation, request.resourceType, request.resourceName);
  }

  private bindingsOf(type: AclResourceType): AclBinding[] {
    const current = this.source();
    if (current.version !== this.indexedVersion) {
      const byType = new Map<AclResourceType, AclBinding[]>();
      for (const b of current.bindings) {
        let list = byType.get(b.resourceType);
        if (!list) byType.set(b.resourceType, (list = []));
        list.push(b);
      }
      this.byType = byType;
      this.indexedVersion = current.version;
      this.decisions.clear();
    }
    return this.byType.get(type) ?? [];
  }
}

/** The address an ACL's host is compared with: IPv4-mapped IPv6 as plain IPv4, as Kafka sees it. */
export function aclHost(remoteAddress: string | undefined): string {
  if (!remoteAddress) return '';
  return remoteAddress.startsWith('::ffff:') ? remoteAddress.slice(7) : remoteAddress;
}
