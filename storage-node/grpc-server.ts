// Serves a SegmentStore over gRPC (rdmq.storage.v1.StorageNode). Every
// handler is synchronous over the store, so calls never interleave.
import * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'crypto';
import { membershipInterceptor, serverCredentials } from '../control-plane';
import { CommitTarget, serveCommits } from './commit-channel';
import { startCommitSocketServer } from './commit-socket';
import { epochOf, LeaderEpochFence } from './leader-epoch';
import type { SegmentStore } from './segment-store';
import { StorageError } from './storage-error';
import type { StorageNode } from './storage-node';
import {
  descriptorToWire,
  fencedToWire,
  parseInt64,
  parseSafeInteger,
  producerScanToWire,
  storageService,
  toServiceError,
  usageToWire,
  WireAllocateRequest,
  WireCommitRequest,
  WireSealRequest,
  WireSegmentIdRequest,
  WireWriteSkipMarkerRequest,
} from './grpc-wire';

export interface StorageGrpcServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** The node's UCX side; without it Info, SegmentKey and Verify answer UNAVAILABLE. */
  node?: StorageNode;
  log?: (message: string) => void;
  /** Where the highest broker leader epoch seen is kept across restarts (storage-node/leader-epoch.ts). */
  epochFile?: string;
  /** A directory (made 0700) for the commit socket's Unix socket, for a broker on this host. */
  localDir?: string;
  /** The commit socket's TCP port on `host` (default 0: one the system picks; Info tells the broker). */
  commitPort?: number;
  /** Answer Info as a node from before allocations, seals and grants were commit steps (tests of a broker beside one). */
  infoWithoutRollSteps?: boolean;
}

export interface StorageGrpcServer {
  port: number;
  /** The commit socket's port (storage-node/commit-socket.ts), on the same host, and its Unix socket when there is one. */
  commitPort: number;
  commitSocketPath?: string;
  /** New on every start: Info's boot id. */
  bootId: string;
  /** The highest broker leader epoch seen, and the mutating calls refused for an older one. */
  fence: LeaderEpochFence;
  close(): Promise<void>;
}

const SHUTDOWN_GRACE_MS = 2000;
/** Room beside the largest skip marker (one segment's data area) for the rest of the message. */
const MESSAGE_OVERHEAD_BYTES = 64 * 1024;

/** Calls that change the node: refused for a deposed broker's epoch. */
const MUTATING_METHODS = new Set(['Allocate', 'Commit', 'WriteSkipMarker', 'Seal', 'Free', 'SkipFencedRange']);

function unary<Req, Res>(handle: (request: Req) => Res): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    let response: Res;
    try {
      response = handle(call.request);
    } catch (err) {
      callback(toServiceError(err));
      return;
    }
    callback(null, response);
  };
}

export async function startStorageGrpcServer(store: SegmentStore, options: StorageGrpcServerOptions): Promise<StorageGrpcServer> {
  const bootId = randomUUID();
  const server = new grpc.Server({
    // A skip marker fills at most one segment's data area.
    'grpc.max_receive_message_length': store.maxDataCapacityBytes + MESSAGE_OVERHEAD_BYTES,
    // Every call is the broker's: nobody else may allocate, key, read, free or describe segments.
    interceptors: [membershipInterceptor(() => true, options.log)],
  });
  const id = (s: string) => parseSafeInteger('segmentId', s);
  const fence = new LeaderEpochFence(options.log, options.epochFile);
  // Grants carry the leader epoch they were issued under; a newer leader's claim voids the older ones.
  if (options.node) options.node.leaderEpoch = () => fence.highestEpoch ?? 0n;
  const withNode = (): StorageNode => {
    if (!options.node) throw new StorageError('UNAVAILABLE', 'this storage server has no fast-path transport');
    return options.node;
  };
  const commitTarget = (): CommitTarget => ({
    store,
    commit: (segmentId, request) => (options.node ?? store).commit(segmentId, request),
    allocate: (request) => (options.node ?? store).allocate(request),
    seal: (segmentId, finalPosition) => (options.node ? options.node.seal(segmentId, finalPosition) : store.seal(segmentId, { finalPosition })),
    grant: options.node ? (segmentId, access) => options.node!.segmentKey(segmentId, access) : undefined,
    landCopies: (segmentId, start, end) => options.node?.landCopies(segmentId, start, end),
    batchCrcs: (segmentId, position) => options.node?.batchCrcs(segmentId, position),
  });
  // Beside the gRPC port: the broker's commits without gRPC's per-message cost (same proof, same fence).
  const commitSocket = await startCommitSocketServer(commitTarget, fence, { host: options.host, port: options.commitPort, bootId, localDir: options.localDir, log: options.log });
  const handlers = fenced(fence, {
    Allocate: unary((r: WireAllocateRequest) =>
      descriptorToWire(
        commitTarget().allocate({
          topicId: r.topicId,
          partition: r.partition,
          baseOffset: parseInt64('baseOffset', r.baseOffset),
          dataCapacityBytes: r.dataCapacityBytes || undefined,
          segmentId: r.segmentId && r.segmentId !== '0' ? id(r.segmentId) : undefined,
        }),
      ),
    ),
    Commit: unary((r: WireCommitRequest) =>
      descriptorToWire(
        (options.node ?? store).commit(id(r.segmentId), {
          commitPosition: r.commitPosition,
          endOffset: parseInt64('endOffset', r.endOffset),
          maxTimestamp: parseInt64('maxTimestamp', r.maxTimestamp),
        }),
      ),
    ),
    WriteSkipMarker: unary((r: WireWriteSkipMarkerRequest) => {
      // Through the node: it fences the range against the late put of the producer whose stage was skipped.
      (options.node ?? store).writeSkipMarker(id(r.segmentId), r.position, r.marker);
      return {};
    }),
    ReadData: unary((r: { segmentId: string; position: number; lengthBytes: number }) => ({ data: Buffer.from(store.committedData(id(r.segmentId), r.position, r.lengthBytes)) })),
    WriteData: unary((r: { segmentId: string; position: number; data: Buffer }) => {
      store.writeData(id(r.segmentId), r.position, r.data);
      return {};
    }),
    Seal: unary((r: WireSealRequest) => descriptorToWire(commitTarget().seal(id(r.segmentId), r.finalPosition))),
    Free: unary((r: WireSegmentIdRequest) => {
      (options.node ?? store).free(id(r.segmentId));
      return {};
    }),
    Get: unary((r: WireSegmentIdRequest) => descriptorToWire(store.get(id(r.segmentId)))),
    Describe: unary(() => ({ segments: store.describe().map(descriptorToWire) })),
    Usage: unary(() => usageToWire(store.usage())),
    FencedRanges: unary(() => ({
      ranges: store.fencedRanges().map(fencedToWire),
      unreadableSlots: store.recovery.segmentsLost.map((l) => ({ index: l.index, slotCount: l.slotCount, segmentId: l.segmentId === undefined ? '' : String(l.segmentId), reason: l.reason })),
    })),
    SkipFencedRange: unary((r: { segmentId: string; startPosition: number }) => fencedToWire(store.skipFencedRange(id(r.segmentId), r.startPosition))),
    Info: unary(() => ({
      nodeUuid: store.superblock.nodeUuid,
      fastpathAddress: withNode().fastpathAddress,
      segmentSizeBytes: String(store.segmentSizeBytes),
      bootId,
      commitPort: commitSocket.port,
      commitSocketPath: commitSocket.localPath ?? '',
      rollSteps: !options.infoWithoutRollSteps,
    })),
    SegmentKey: unary((r: { segmentId: string; readOnly: boolean }) => ({ packedKey: withNode().segmentKey(id(r.segmentId), r.readOnly ? 'read' : 'read-write') })),
    Verify: unary((r: { segmentId: string; position: number; lengthBytes: number; baseOffset: string; recordCount: number; verifyCrc: boolean; where: string; batchBytesMax?: number }) => {
      const expected = { baseOffset: parseInt64('baseOffset', r.baseOffset), recordCount: r.recordCount, verifyCrc: r.verifyCrc, batchBytesMax: r.batchBytesMax || undefined };
      withNode().verify(id(r.segmentId), r.position, r.lengthBytes, expected, r.where);
      return {};
    }),
    ScanProducers: unary((r: WireSegmentIdRequest) => producerScanToWire(store.scanProducers(id(r.segmentId)))),
  });
  // The commit stream fences each message itself (a stream outlives the epoch it opened with).
  handlers.Commits = serveCommits(commitTarget, fence);
  server.addService(storageService().service, handlers);
  const address = options.host.includes(':') ? `[${options.host}]:${options.port}` : `${options.host}:${options.port}`;
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(address, serverCredentials(), (err, boundPort) => (err ? reject(err) : resolve(boundPort)));
    });
  } catch (err) {
    await commitSocket.close();
    throw err;
  }
  return {
    port,
    commitPort: commitSocket.port,
    commitSocketPath: commitSocket.localPath,
    bootId,
    fence,
    close: async () => {
      await commitSocket.close();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), SHUTDOWN_GRACE_MS);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },
  };
}

/** Checks the caller's leader epoch before each handler runs (mutating calls of a deposed broker are refused). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function fenced(fence: LeaderEpochFence, handlers: Record<string, grpc.handleUnaryCall<any, unknown>>): grpc.UntypedServiceImplementation {
  const wrapped: grpc.UntypedServiceImplementation = {};
  for (const [method, handle] of Object.entries(handlers)) {
    wrapped[method] = ((call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      try {
        const epoch = epochOf(call.metadata);
        if (MUTATING_METHODS.has(method)) fence.admit(epoch, method);
        else fence.observe(epoch);
      } catch (err) {
        callback(toServiceError(err));
        return;
      }
      handle(call, callback);
    }) as grpc.handleUnaryCall<unknown, unknown>;
  }
  return wrapped;
}
