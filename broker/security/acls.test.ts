// The authorizer's decisions (Kafka's AclAuthorizer semantics) and the ACL
// records' life in the metadata log, reopened from disk.
import * as fs from 'fs';
import * as path from 'path';
import { Etcd3 } from 'etcd3';
import { freeLoopbackPort, startEtcd } from '../../bench/cluster';
import { EtcdMetadataLog } from '../etcd-metadata-log';
import { MetadataStore } from '../topics';
import { AclBinding, AclError, AuthorizationRequest, Authorizer, AuthorizerOptions, filterMatches, MATCH_ALL_ACLS } from './acls';
import { createAcls, deleteAcls, listAcls } from './acl-store';

function binding(partial: Partial<AclBinding>): AclBinding {
  return { resourceType: 'TOPIC', resourceName: 't', patternType: 'LITERAL', principal: 'User:alice', host: '*', operation: 'READ', permission: 'ALLOW', ...partial };
}

function authorizer(bindings: AclBinding[], options: AuthorizerOptions = {}): (r: Partial<AuthorizationRequest>) => boolean {
  const a = new Authorizer(() => ({ version: 1, bindings }), options);
  return (r) => a.authorize({ principal: 'User:alice', host: '10.0.0.1', operation: 'READ', resourceType: 'TOPIC', resourceName: 't', ...r });
}

describe('the ACL authorizer', () => {
  it('allows everything on a resource with no ACL when allow.everyone.if.no.acl.found is on (the default), nothing when off', () => {
    expect(authorizer([])({})).toBe(true);
    expect(authorizer([], { allowEveryoneIfNoAclFound: false })({})).toBe(false);
    // An ACL on another topic does not close this one.
    expect(authorizer([binding({ resourceName: 'other' })])({})).toBe(true);
  });

  it('once a resource has an ACL, allows only what its bindings allow, for that principal and host', () => {
    const decide = authorizer([binding({ host: '10.0.0.1' })]);
    expect(decide({})).toBe(true);
    expect(decide({ principal: 'User:bob' })).toBe(false);
    expect(decide({ host: '10.0.0.2' })).toBe(false);
    expect(decide({ operation: 'WRITE' })).toBe(false);
  });

  it('DENY wins over ALLOW, User:* and ALL included', () => {
    const decide = authorizer([binding({ operation: 'ALL' }), binding({ principal: 'User:*', operation: 'READ', permission: 'DENY' })]);
    expect(decide({})).toBe(false);
    expect(decide({ operation: 'WRITE' })).toBe(true);
  });

  it('PREFIXED patterns and LITERAL * apply to every name they cover', () => {
    const decide = authorizer([binding({ resourceName: 'orders-', patternType: 'PREFIXED' }), binding({ resourceName: '*', principal: 'User:bob', operation: 'WRITE' })]);
    expect(decide({ resourceName: 'orders-eu' })).toBe(true);
    // Not covered by the prefix, but bob's LITERAL '*' applies to it: alice has no ALLOW there.
    expect(decide({ resourceName: 'order' })).toBe(false);
    expect(decide({ resourceName: 'orders-eu', principal: 'User:carol' })).toBe(false);
    expect(decide({ resourceName: 'anything', principal: 'User:bob', operation: 'WRITE' })).toBe(true);
    const denyPrefix = authorizer([binding({ resourceName: '*', operation: 'ALL' }), binding({ resourceName: 'secret.', patternType: 'PREFIXED', permission: 'DENY' })]);
    expect(denyPrefix({ resourceName: 'secret.keys' })).toBe(false);
    expect(denyPrefix({ resourceName: 'public' })).toBe(true);
  });

  it('an ALLOW of READ, WRITE, DELETE or ALTER implies DESCRIBE, ALTER_CONFIGS implies DESCRIBE_CONFIGS; a DENY implies nothing', () => {
    for (const op of ['READ', 'WRITE', 'DELETE', 'ALTER'] as const) expect(authorizer([binding({ operation: op })])({ operation: 'DESCRIBE' })).toBe(true);
    expect(authorizer([binding({ operation: 'CREATE' })])({ operation: 'DESCRIBE' })).toBe(false);
    expect(authorizer([binding({ operation: 'ALTER_CONFIGS' })])({ operation: 'DESCRIBE_CONFIGS' })).toBe(true);
    expect(authorizer([binding({ operation: 'DESCRIBE' }), binding({ operation: 'READ', permission: 'DENY' })])({ operation: 'DESCRIBE' })).toBe(true);
  });

  it('lets super users do everything, even what a DENY names', () => {
    const decide = authorizer([binding({ principal: 'User:*', operation: 'ALL', permission: 'DENY' })], { superUsers: ['User:admin'] });
    expect(decide({ principal: 'User:admin', operation: 'DELETE' })).toBe(true);
    expect(decide({})).toBe(false);
  });

  it('filters match like Kafka: ANY by exact name, MATCH by what applies to the named resource', () => {
    const prefixed = binding({ resourceName: 'orders-', patternType: 'PREFIXED' });
    const star = binding({ resourceName: '*' });
    expect(filterMatches({ ...MATCH_ALL_ACLS, resourceName: 'orders-eu', patternType: 'MATCH' }, prefixed)).toBe(true);
    expect(filterMatches({ ...MATCH_ALL_ACLS, resourceName: 'orders-eu', patternType: 'MATCH' }, star)).toBe(true);
    expect(filterMatches({ ...MATCH_ALL_ACLS, resourceName: 'orders-eu', patternType: 'ANY' }, prefixed)).toBe(false);
    expect(filterMatches({ ...MATCH_ALL_ACLS, resourceName: 'orders-', patternType: 'LITERAL' }, prefixed)).toBe(false);
    expect(filterMatches({ ...MATCH_ALL_ACLS, resourceType: 'GROUP' }, prefixed)).toBe(false);
  });
});

describe('ACLs in the metadata log', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync('/dev/shm/rdmq-acls-');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('are created, refused when malformed, deleted by filter, and read back the same after reopening (snapshot included)', async () => {
    let store = await MetadataStore.open(path.join(dir, 'meta'), { fsync: false });
    const outcomes = await createAcls(store, [
      binding({}),
      binding({ resourceType: 'GROUP', resourceName: 'g', operation: 'WRITE' }),
      binding({ principal: 'alice' }),
      binding({ resourceType: 'CLUSTER', resourceName: 'kafka-cluster', operation: 'ALTER' }),
    ]);
    expect(outcomes.map((o) => (o instanceof AclError ? 'refused' : 'ok'))).toEqual(['ok', 'refused', 'refused', 'ok']);
    expect(listAcls(store, MATCH_ALL_ACLS)).toHaveLength(2);
    await store.snapshot();
    await createAcls(store, [binding({ resourceName: 'p-', patternType: 'PREFIXED', permission: 'DENY' })]);
    const version = store.acls.version;
    await store.close();

    store = await MetadataStore.open(path.join(dir, 'meta'), { fsync: false });
    expect(listAcls(store, MATCH_ALL_ACLS)).toHaveLength(3);
    expect(store.acls.version).toBe(version);
    const [removed] = await deleteAcls(store, [{ ...MATCH_ALL_ACLS, resourceType: 'TOPIC' }]);
    expect(removed.map((b) => b.resourceName).sort()).toEqual(['p-', 't']);
    await store.close();

    store = await MetadataStore.open(path.join(dir, 'meta'), { fsync: false });
    expect(listAcls(store, MATCH_ALL_ACLS).map((b) => b.resourceType)).toEqual(['CLUSTER']);
    await store.close();
  });
});

describe('ACLs of an HA broker group', () => {
  it('reach etcd with the rest of the metadata: the next leader decides with the same bindings', async () => {
    const dir = fs.mkdtempSync('/dev/shm/rdmq-acls-etcd-');
    const etcd = await startEtcd(path.join(dir, 'etcd'), { client: await freeLoopbackPort(), peer: await freeLoopbackPort() });
    const client = new Etcd3({ hosts: etcd.url });
    try {
      const leaderKey = '/acl-test/leader';
      const openAsLeader = async (): Promise<MetadataStore> => {
        await client.delete().key(leaderKey);
        await client.put(leaderKey).value('test');
        const epoch = String((await client.get(leaderKey).exec()).kvs[0].create_revision);
        return MetadataStore.open(path.join(dir, 'unused'), {
          fsync: false,
          openSink: (o) => EtcdMetadataLog.open({ ...o, client, prefix: '/acl-test', leaderKey, epoch, warn: () => undefined }),
        });
      };
      const first = await openAsLeader();
      await createAcls(first, [binding({ resourceName: 'orders-', patternType: 'PREFIXED' }), binding({ resourceName: 'orders-secret', permission: 'DENY' })]);
      await first.close();

      const next = await openAsLeader();
      const decide = new Authorizer(() => ({ version: next.acls.version, bindings: next.acls.bindings.values() }), { allowEveryoneIfNoAclFound: false });
      const request = { principal: 'User:alice', host: '10.0.0.1', operation: 'READ' as const, resourceType: 'TOPIC' as const };
      expect(decide.authorize({ ...request, resourceName: 'orders-eu' })).toBe(true);
      expect(decide.authorize({ ...request, resourceName: 'orders-secret' })).toBe(false);
      await next.close();
    } finally {
      client.close();
      await etcd.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
