// A storage node's gRPC server (and commit socket) over a fresh 4 MiB test
// region, with a client of it: what the storage node's protocol tests set up
// before each test and take down after it.
import { SegmentStore, startStorageGrpcServer, StorageClient, StorageGrpcServer, StorageNode } from '..';
import { removeRegionDir, tempRegionPath } from './temp';

const MiB = 1024 * 1024;

export interface TestNode {
  path: string;
  store: SegmentStore;
  server: StorageGrpcServer;
  client: StorageClient;
  /** With `withNode`: the node the server acts through (its grants, its fences). */
  node?: StorageNode;
}

/**
 * `commitSocket`: the client commits over the node's commit socket, not only the gRPC stream.
 * `withNode`: the server acts through a StorageNode (no data service), so it grants access.
 * `infoWithoutRollSteps`: its Info answers as a node from before allocations, seals and grants were commit steps.
 */
export async function openTestNode(o: { segmentSizeBytes: number; commitSocket?: boolean; withNode?: boolean; infoWithoutRollSteps?: boolean }): Promise<TestNode> {
  const path = tempRegionPath();
  const store = SegmentStore.open({ path, regionSizeBytes: 4 * MiB, segmentSizeBytes: o.segmentSizeBytes, durability: 'flush', logger: { warn: () => {} } });
  const node = o.withNode ? new StorageNode(store) : undefined;
  const server = await startStorageGrpcServer(store, { host: '127.0.0.1', port: 0, node, infoWithoutRollSteps: o.infoWithoutRollSteps });
  const client = new StorageClient(`127.0.0.1:${server.port}`, o.commitSocket ? { commitPort: server.commitPort } : undefined);
  return { path, store, server, client, node };
}

export async function closeTestNode(node: TestNode): Promise<void> {
  node.client.close();
  await node.server.close();
  node.store.close();
  removeRegionDir(node.path);
}
