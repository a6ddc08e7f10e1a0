// The broker's handle on a storage node running in another process: the
// SegmentStore control methods over gRPC. Failures reject with a StorageError
// carrying the server's code; transport failures are 'UNAVAILABLE' (retriable
// — but a retried allocate may leave an orphan segment for retention to find).
import * as fs from 'fs';
import * as grpc from '@grpc/grpc-js';
import { channelCredentials, memberClientOptions } from '../control-plane';
import type { ProducerScan } from '../format';
import type { AllocateRequest, CommitRequest, FencedRange, RecoveryReport, SegmentDescriptor, StorageUsage } from './segment-store';
import {
  descriptorFromWire,
  fencedFromWire,
  fromServiceError,
  producerScanFromWire,
  storageService,
  usageFromWire,
  WireDescribeResponse,
  WireFencedRange,
  WireSegmentDescriptor,
  WireProducerScan,
  WireUsageResponse,
} from './grpc-wire';
import { LEADER_EPOCH_METADATA_KEY } from './leader-epoch';
import { CommitChannel, CommitStep, CommitStream, steppedSegment } from './commit-channel';
import { CommitSocket } from './commit-socket';

export interface StorageClientOptions {
  /** Per call. Default 10 s. */
  deadlineMs?: number;
  /** Largest skip marker the client sends. Default 2 GiB (the segment size limit). */
  maxSendMessageBytes?: number;
  /** Sent with every call when set: the leadership epoch of an HA broker (storage-node/leader-epoch.ts). */
  leaderEpoch?: bigint;
  /** The node's commit socket port when known beforehand (tests); Info tells it otherwise. */
  commitPort?: number;
}

const DEADLINE_MS_DEFAULT = 10_000;

type UnaryMethod = (
  request: object,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, response: unknown) => void,
) => grpc.ClientUnaryCall;

export class StorageClient {
  private readonly client: grpc.Client;
  private readonly deadlineMs: number;
  private readonly leaderEpoch: bigint | undefined;
  private readonly commits: CommitChannel;
  /** The node's commit socket port, from Info (0: none known). */
  private commitPort = 0;
  /** Its Unix socket on the node's host and the node's boot id, from Info ('': none). */
  private commitSocketPath = '';
  private bootId = '';
  /** Allocations, seals and grants go over the commit channel, unless Info said the node is older than that. */
  private rollSteps = true;

  /** `address` is host:port. */
  constructor(address: string, options: StorageClientOptions = {}) {
    const Service = storageService();
    this.client = new Service(address, channelCredentials(), {
      ...memberClientOptions(),
      'grpc.max_send_message_length': options.maxSendMessageBytes ?? -1,
      // A restarted node is found again within a couple of seconds, not after gRPC's default backoff of up to 2 minutes.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2000,
      // A producer scan of a segment written by many producers can pass gRPC's 4 MiB default.
      'grpc.max_receive_message_length': -1,
    });
    this.deadlineMs = options.deadlineMs ?? DEADLINE_MS_DEFAULT;
    this.leaderEpoch = options.leaderEpoch;
    this.commitPort = options.commitPort ?? 0;
    const client = this.client as unknown as { Commits(metadata: grpc.Metadata): CommitStream };
    const host = hostOf(address);
    this.commits = new CommitChannel(
      (metadata) => client.Commits(metadata),
      () => this.metadata(),
      this.deadlineMs,
      () => this.openCommitSocket(host),
    );
  }

  /**
   * The hot path, over the node's commit stream: checks the written range
   * (when given; bytes that fail are not committed), then commits (when
   * given). Steps submitted in the same turn of the event loop share one
   * message and one round trip. Resolves to the segment after a commit.
   */
  commitStep(segmentId: number, step: CommitStep): Promise<SegmentDescriptor | undefined> {
    return this.commits.submit(segmentId, step);
  }

  /**
   * Proves the node's commit socket now (Info does it in the background):
   * true once commits can take it, false when the node has none; rejects
   * with the node's refusal or UNAVAILABLE (commits then use the stream).
   */
  connectCommitSocket(): Promise<boolean> {
    return this.commits.openSocketNow();
  }

  /** Messages and entries sent, streams and sockets opened, and which one commits take now. */
  commitStreamStats(): { messages: number; entries: number; streams: number; sockets: number; via: 'stream' | 'socket' | 'none' } {
    return { ...this.commits.sent, via: this.commits.via };
  }

  /** Over the commit stream, in order with the commits (a partition's commits wait for its next segment). */
  async allocate(request: AllocateRequest): Promise<SegmentDescriptor> {
    const { segmentId, ...allocate } = request;
    if (this.rollSteps) return steppedSegment(await this.commits.submit(segmentId ?? 0, { allocate }), 'an allocation');
    const wire = await this.call<WireSegmentDescriptor>('Allocate', {
      topicId: request.topicId,
      partition: request.partition,
      baseOffset: request.baseOffset.toString(),
      dataCapacityBytes: request.dataCapacityBytes ?? 0,
      segmentId: String(segmentId ?? 0),
    });
    return descriptorFromWire(wire);
  }

  async commit(segmentId: number, request: CommitRequest): Promise<SegmentDescriptor> {
    const wire = await this.call<WireSegmentDescriptor>('Commit', {
      segmentId: String(segmentId),
      commitPosition: request.commitPosition,
      endOffset: request.endOffset.toString(),
      maxTimestamp: request.maxTimestamp.toString(),
    });
    return descriptorFromWire(wire);
  }

  async readData(segmentId: number, position: number, lengthBytes: number): Promise<Buffer> {
    return (await this.call<{ data: Buffer }>('ReadData', { segmentId: String(segmentId), position, lengthBytes })).data;
  }

  async writeData(segmentId: number, position: number, data: Buffer): Promise<void> {
    await this.call('WriteData', { segmentId: String(segmentId), position, data });
  }

  async writeSkipMarker(segmentId: number, position: number, bytes: Buffer): Promise<void> {
    await this.call('WriteSkipMarker', { segmentId: String(segmentId), position, marker: bytes });
  }

  /** Over the commit stream, as allocate. */
  async seal(segmentId: number, request: { finalPosition: number }): Promise<SegmentDescriptor> {
    if (this.rollSteps) return steppedSegment(await this.commits.submit(segmentId, { seal: request }), 'a seal');
    return descriptorFromWire(await this.call<WireSegmentDescriptor>('Seal', { segmentId: String(segmentId), finalPosition: request.finalPosition }));
  }

  async free(segmentId: number): Promise<void> {
    await this.call('Free', { segmentId: String(segmentId) });
  }

  async get(segmentId: number): Promise<SegmentDescriptor> {
    return descriptorFromWire(await this.call<WireSegmentDescriptor>('Get', { segmentId: String(segmentId) }));
  }

  async describe(): Promise<SegmentDescriptor[]> {
    const wire = await this.call<WireDescribeResponse>('Describe', {});
    return wire.segments.map(descriptorFromWire);
  }

  async usage(): Promise<StorageUsage> {
    return usageFromWire(await this.call<WireUsageResponse>('Usage', {}));
  }

  async info(): Promise<{ nodeUuid: string; fastpathAddress: string; segmentSizeBytes: number; bootId: string }> {
    const r = await this.call<{ nodeUuid: string; fastpathAddress: string; segmentSizeBytes: string; bootId: string; commitPort?: number; commitSocketPath?: string; rollSteps?: boolean }>('Info', {});
    // A node from before roll steps answers without the field: it gets the unary calls.
    this.rollSteps = r.rollSteps === true;
    if ((r.commitPort ?? 0) !== this.commitPort || r.bootId !== this.bootId) {
      // A new node process (or the first answer): commits go to its socket from now on.
      this.commitPort = r.commitPort ?? 0;
      this.commitSocketPath = r.commitSocketPath ?? '';
      this.bootId = r.bootId;
      this.commits.forgetSocket();
      this.commits.openSocketNow().catch(() => undefined);
    }
    return { nodeUuid: r.nodeUuid, fastpathAddress: r.fastpathAddress, segmentSizeBytes: Number(r.segmentSizeBytes), bootId: r.bootId };
  }

  /** Over the commit stream, as allocate: a producer that rolled waits for the new segment's grant. */
  async segmentKey(segmentId: number, access: 'read' | 'read-write'): Promise<Buffer> {
    if (this.rollSteps) return this.commits.grant(segmentId, access);
    return (await this.call<{ packedKey: Buffer }>('SegmentKey', { segmentId: String(segmentId), readOnly: access === 'read' })).packedKey;
  }

  async verify(
    segmentId: number,
    position: number,
    lengthBytes: number,
    expected: { baseOffset: bigint; recordCount: number; verifyCrc?: boolean; batchBytesMax?: number },
    where: string,
  ): Promise<void> {
    await this.call('Verify', {
      segmentId: String(segmentId),
      position,
      lengthBytes,
      baseOffset: expected.baseOffset.toString(),
      recordCount: expected.recordCount,
      verifyCrc: expected.verifyCrc !== false,
      batchBytesMax: expected.batchBytesMax ?? 0,
      where,
    });
  }

  async fencedRanges(): Promise<{ ranges: FencedRange[]; unreadableSlots: RecoveryReport['segmentsLost'] }> {
    const r = await this.call<{ ranges: WireFencedRange[]; unreadableSlots: { index: number; slotCount: number; segmentId: string; reason: string }[] }>('FencedRanges', {});
    return {
      ranges: r.ranges.map(fencedFromWire),
      unreadableSlots: r.unreadableSlots.map((u) => ({ index: u.index, slotCount: u.slotCount, segmentId: u.segmentId === '' ? undefined : Number(u.segmentId), reason: u.reason })),
    };
  }

  async skipFencedRange(segmentId: number, startPosition: number): Promise<FencedRange> {
    return fencedFromWire(await this.call<WireFencedRange>('SkipFencedRange', { segmentId: String(segmentId), startPosition }));
  }

  async scanProducers(segmentId: number): Promise<ProducerScan> {
    return producerScanFromWire(await this.call<WireProducerScan>('ScanProducers', { segmentId: String(segmentId) }));
  }

  close(): void {
    this.commits.close();
    this.client.close();
  }

  /**
   * The node's Unix commit socket when it is on this host (the path exists
   * here and the node there answers with the boot id Info gave), else its TCP
   * one; undefined when the node has neither.
   */
  private openCommitSocket(host: string): Promise<CommitSocket> | undefined {
    if (!this.commitPort) return undefined;
    const tcp = { host, port: this.commitPort, leaderEpoch: this.leaderEpoch, bootId: this.bootId || undefined };
    if (!this.commitSocketPath || !this.bootId || !fs.existsSync(this.commitSocketPath)) return CommitSocket.open(tcp, this.deadlineMs);
    return CommitSocket.open({ ...tcp, path: this.commitSocketPath }, this.deadlineMs).catch(() => CommitSocket.open(tcp, this.deadlineMs));
  }

  private metadata(): grpc.Metadata {
    const metadata = new grpc.Metadata();
    if (this.leaderEpoch !== undefined) metadata.set(LEADER_EPOCH_METADATA_KEY, this.leaderEpoch.toString());
    return metadata;
  }

  private call<Res>(method: string, request: object): Promise<Res> {
    const fn = (this.client as unknown as Record<string, UnaryMethod>)[method];
    return new Promise<Res>((resolve, reject) => {
      fn.call(this.client, request, this.metadata(), { deadline: Date.now() + this.deadlineMs }, (err, response) => {
        if (err) reject(fromServiceError(err));
        else resolve(response as Res);
      });
    });
  }
}

/** The host of a gRPC target "host:port" or "[v6]:port". */
function hostOf(address: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (bracketed) return bracketed[1];
  const colon = address.lastIndexOf(':');
  return colon > 0 ? address.slice(0, colon) : address;
}
