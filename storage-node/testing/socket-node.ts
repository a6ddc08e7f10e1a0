// A storage node whose data service serves this very process as a client on
// its Unix socket (CMA with itself), for tests of what the node does with
// puts: large ones are copied on the thread pool while the test fences,
// overwrites or checks. Call `startSocketNode` from a beforeEach and `close`
// from the afterEach.
import * as fs from 'fs';
import * as path from 'path';
import { DataLink } from '../../rdma-client/data-link';
import { DataService, startDataService } from '../data-service';
import { StorageNode } from '../storage-node';
import { closeTestRegions, testRegion } from './regions';

const MiB = 1024 * 1024;

export interface SocketNode {
  node: StorageNode;
  service: DataService;
  /** This process's link to the node: on the socket, by CMA, never by a direct call. */
  link: DataLink;
  close(): Promise<void>;
}

/** A 160 MiB region of 64 MiB segments behind a data service, and a link to it. */
export async function startSocketNode(): Promise<SocketNode> {
  const region = testRegion();
  const node = new StorageNode(region.open({ regionSizeBytes: 160 * MiB, segmentSizeBytes: 64 * MiB }));
  const localDir = path.join(path.dirname(region.path), 'data-socket');
  const service = await startDataService(node, '127.0.0.1', 0, () => undefined, localDir);
  // On the socket, as a client in another process: this process serves the node too, and would otherwise put by a direct call.
  const link = await DataLink.connect(`127.0.0.1:${service.port}`, { inProcess: false });
  if (link.path !== 'unix-cma') throw new Error(`the test link reaches the node by ${link.path}, not by CMA on its Unix socket`);
  return {
    node,
    service,
    link,
    async close() {
      await link.close();
      await service.close();
      closeTestRegions();
      fs.rmSync(localDir, { recursive: true, force: true });
    },
  };
}
