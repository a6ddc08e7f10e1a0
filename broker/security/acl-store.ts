// Creating, describing and deleting ACL bindings in the broker's metadata:
// what the Kafka APIs (CreateAcls, DescribeAcls, DeleteAcls), `rdmq acls` and
// the gateways' ACL cache call. Each change is one durable record.
import type { MetadataStore } from '../topics';
import { AclBinding, AclError, aclsCreatedRecord, aclsDeletedRecord, AclFilter, AclState, describeAcls, validateBinding } from './acls';

/** One outcome per binding asked for, in order: null when created (or already there). */
export async function createAcls(metadata: MetadataStore, bindings: AclBinding[]): Promise<(AclError | null)[]> {
  const outcomes = bindings.map((b) => {
    try {
      validateBinding(b);
      return null;
    } catch (err) {
      return err instanceof AclError ? err : new AclError(String(err));
    }
  });
  const valid = bindings.filter((_, i) => outcomes[i] === null);
  if (valid.length === 0) return outcomes;
  await metadata.changeAcls((projected) => ({ record: aclsCreatedRecord(projected, valid), result: undefined }));
  return outcomes;
}

/** Deletes every binding any filter matches; returns, per filter, what it matched. */
export function deleteAcls(metadata: MetadataStore, filters: AclFilter[]): Promise<AclBinding[][]> {
  return metadata.changeAcls((projected) => {
    const { matched, record } = aclsDeletedRecord(projected, filters);
    return { record, result: matched };
  });
}

export function listAcls(metadata: MetadataStore, filter: AclFilter): AclBinding[] {
  return describeAcls(metadata.acls as AclState, filter);
}

/** The bindings and their version, for a gateway's cache. */
export function aclSnapshot(metadata: MetadataStore): { version: number; bindings: AclBinding[] } {
  const acls = metadata.acls;
  return { version: acls.version, bindings: [...acls.bindings.values()] };
}
