// `rdmq acls add|remove|list`: Kafka's kafka-acls.sh options over the
// broker's control plane (broker.proto CreateAcls/DeleteAcls/DescribeAcls).
// add builds every combination of principal × host × operation × resource;
// remove and list match like Kafka's filters.
import { parseArgs } from 'util';
import { CONTROL_FLAGS } from './control-flags';

const ACTIONS = ['add', 'remove', 'list'];

interface WireAcl {
  resourceType: string;
  resourceName: string;
  patternType: string;
  principal: string;
  host: string;
  operation: string;
  permission: string;
}

export async function aclsCommand(argv: string[], usageError: (message: string) => never): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      control: { type: 'string' },
      'allow-principal': { type: 'string', multiple: true },
      'deny-principal': { type: 'string', multiple: true },
      'allow-host': { type: 'string', multiple: true },
      'deny-host': { type: 'string', multiple: true },
      operation: { type: 'string', multiple: true },
      topic: { type: 'string', multiple: true },
      group: { type: 'string', multiple: true },
      'transactional-id': { type: 'string', multiple: true },
      cluster: { type: 'boolean' },
      'resource-pattern-type': { type: 'string' },
      principal: { type: 'string' },
      ...CONTROL_FLAGS,
    },
    allowPositionals: true,
    strict: true,
  });
  const action = positionals[0];
  if (!action || !ACTIONS.includes(action)) usageError(`the action must be one of ${ACTIONS.join(', ')}, got ${action ?? 'nothing'}`);
  if (positionals.length > 1) usageError(`unexpected argument "${positionals[1]}"`);
  const resources = [
    ...(values.topic ?? []).map((name) => ({ type: 'TOPIC', name })),
    ...(values.group ?? []).map((name) => ({ type: 'GROUP', name })),
    ...(values['transactional-id'] ?? []).map((name) => ({ type: 'TRANSACTIONAL_ID', name })),
    ...(values.cluster ? [{ type: 'CLUSTER', name: 'kafka-cluster' }] : []),
  ];
  const pattern = (values['resource-pattern-type'] ?? (action === 'list' ? 'any' : 'literal')).toUpperCase();
  const patterns = action === 'add' ? ['LITERAL', 'PREFIXED'] : ['LITERAL', 'PREFIXED', 'MATCH', 'ANY'];
  if (!patterns.includes(pattern)) usageError(`--resource-pattern-type of ${action} must be one of ${patterns.map((p) => p.toLowerCase()).join(', ')}`);
  const principals = [
    ...(values['allow-principal'] ?? []).map((principal) => ({ principal, permission: 'ALLOW', hosts: values['allow-host'] ?? ['*'] })),
    ...(values['deny-principal'] ?? []).map((principal) => ({ principal, permission: 'DENY', hosts: values['deny-host'] ?? ['*'] })),
  ];
  const operations = (values.operation ?? []).map((op) => op.toUpperCase().replace(/-/g, '_'));

  // ACLs are the cluster's to manage: the calls prove the cluster secret (they serve members only).
  (await import('./control-plane-setup')).setUpClientControlPlane(values);
  const { Connection } = await import('../rdma-client');
  const connection = await Connection.open({ control: values.control });
  try {
    if (action === 'add') {
      if (resources.length === 0) usageError('add needs a resource: --topic, --group, --transactional-id or --cluster');
      if (principals.length === 0) usageError('add needs --allow-principal or --deny-principal');
      const bindings: WireAcl[] = [];
      for (const r of resources) {
        for (const p of principals) {
          for (const host of p.hosts) {
            for (const operation of operations.length > 0 ? operations : ['ALL']) {
              bindings.push({ resourceType: r.type, resourceName: r.name, patternType: pattern, principal: p.principal, host, operation, permission: p.permission });
            }
          }
        }
      }
      await connection.call('createAcls', { bindings });
      printBindings('added', bindings);
    } else if (action === 'remove') {
      if (resources.length === 0) usageError('remove needs a resource: --topic, --group, --transactional-id or --cluster');
      const filters: Partial<WireAcl>[] = [];
      for (const r of resources) {
        const who = principals.length > 0 ? principals : [{ principal: '', permission: '', hosts: [''] }];
        for (const p of who) {
          for (const host of values['allow-host'] || values['deny-host'] ? p.hosts : ['']) {
            for (const operation of operations.length > 0 ? operations : ['']) {
              filters.push({ resourceType: r.type, resourceName: r.name, patternType: pattern, principal: p.principal, host, operation, permission: p.permission });
            }
          }
        }
      }
      const reply = await connection.call<{ bindings: WireAcl[] }>('deleteAcls', { filters });
      printBindings('removed', reply.bindings);
    } else {
      const filters: Partial<WireAcl>[] = (resources.length > 0 ? resources : [{ type: '', name: '' }]).map((r) => ({
        resourceType: r.type,
        resourceName: r.name,
        patternType: r.name ? pattern : '',
        principal: values.principal ?? '',
      }));
      const seen = new Set<string>();
      const all: WireAcl[] = [];
      for (const filter of filters) {
        for (const b of (await connection.call<{ bindings: WireAcl[] }>('describeAcls', filter)).bindings) {
          const key = JSON.stringify(b);
          if (!seen.has(key)) all.push(b), seen.add(key);
        }
      }
      printBindings(null, all);
    }
  } finally {
    await connection.close();
  }
}

/** Kafka's layout: the bindings under each resource pattern. */
function printBindings(verb: string | null, bindings: WireAcl[]): void {
  if (bindings.length === 0) {
    process.stdout.write(verb ? `no ACLs ${verb}\n` : 'no ACLs\n');
    return;
  }
  const byResource = new Map<string, WireAcl[]>();
  for (const b of bindings) {
    const key = `ResourcePattern(resourceType=${b.resourceType}, name=${b.resourceName}, patternType=${b.patternType})`;
    byResource.set(key, [...(byResource.get(key) ?? []), b]);
  }
  for (const [resource, list] of byResource) {
    process.stdout.write(`${verb ? `${verb[0].toUpperCase()}${verb.slice(1)} ACLs for` : 'Current ACLs for'} resource \`${resource}\`:\n`);
    for (const b of list) process.stdout.write(`\t(principal=${b.principal}, host=${b.host}, operation=${b.operation}, permissionType=${b.permission})\n`);
  }
}
