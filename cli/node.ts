// `rdmq start`: storage node, broker (and later the gateway) in one process,
// sharing one UCX transport. Data lives under --data: the region file and the
// broker's metadata log.
import * as fs from 'fs';
import * as path from 'path';
import { Transport } from '../addon';
import { Broker, EmbeddedStorage, FastPathService, startControlServer } from '../broker';
import { SegmentStore } from '../storage-node';
import { ServerConfig, splitHostPort } from './config';

export interface RunningNode {
  controlPort: number;
  fastpathPort: number;
  broker: Broker;
  storage: EmbeddedStorage;
  close(): Promise<void>;
}

export async function startNode(config: ServerConfig, log: (message: string) => void = () => undefined): Promise<RunningNode> {
  fs.mkdirSync(config.data, { recursive: true });
  const store = SegmentStore.open({
    path: path.join(config.data, 'region'),
    regionSizeBytes: config.regionSize,
    segmentSizeBytes: config.segmentSize,
    durability: config.durability,
    logger: { warn: log },
  });
  const transport = new Transport();
  const storage = new EmbeddedStorage(store, transport);
  let service: FastPathService | undefined;
  const broker = await Broker.open(path.join(config.data, 'meta'), storage, {
    leaseTimeoutMs: config.leaseTimeoutMs,
    retentionCheckMs: config.retentionCheckMs,
    durability: config.durability,
    onAdvance: (runtime, advance) => service?.advanced(runtime, advance),
    onSegment: (runtime, segment) => service?.segmentAdded(runtime, segment),
    log,
  });
  service = new FastPathService(broker, transport, log);
  const fast = splitHostPort(config.fastpath);
  const fastpathPort = await transport.listen(fast.host, fast.port);
  const control = await startControlServer(
    broker,
    { clusterId: store.superblock.nodeUuid, fastpathAddress: `${fast.host}:${fastpathPort}`, durability: config.durability, segmentSizeBytes: config.segmentSize },
    splitHostPort(config.control),
  );
  let closed = false;
  return {
    controlPort: control.port,
    fastpathPort,
    broker,
    storage,
    close: async () => {
      if (closed) return;
      closed = true;
      await control.close();
      await broker.close();
      transport.close();
      storage.close();
    },
  };
}
