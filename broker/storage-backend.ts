// What the broker needs from a storage node. The embedded backend wraps a
// SegmentStore in this process and registers each segment's data area with
// the process's UCX transport: one read-write registration (its key goes to
// producers granted a stage in that segment) and one read-only registration
// (its key goes to consumers).
import { MemoryRegistration, Transport } from '../addon';
import { CommitRequest, SegmentDescriptor, SegmentStore } from '../storage-node';

export interface StorageBackend {
  readonly nodeId: string;
  readonly segmentSizeBytes: number;
  allocate(request: { topicId: number; partition: number; baseOffset: bigint }): Promise<SegmentDescriptor>;
  commit(segmentId: number, request: CommitRequest): Promise<SegmentDescriptor>;
  writeSkipMarker(segmentId: number, position: number, bytes: Buffer): Promise<void>;
  seal(segmentId: number, finalPosition: number): Promise<SegmentDescriptor>;
  free(segmentId: number): Promise<void>;
  describe(): Promise<SegmentDescriptor[]>;
  /** Packed UCX key for a segment's data area. */
  segmentKey(segmentId: number, access: 'read' | 'read-write'): Buffer;
  /** Reads committed bytes (for the gateway and tests). */
  read(segmentId: number, position: number, length: number): Buffer;
  /** Bytes a producer wrote but nobody committed yet, to check them before committing. */
  written(segmentId: number, position: number, length: number): Promise<Buffer>;
  close(): void;
}

interface Registrations {
  readWrite: MemoryRegistration;
  read: MemoryRegistration;
}

export class EmbeddedStorage implements StorageBackend {
  readonly nodeId = 'local';
  private readonly registrations = new Map<number, Registrations>();

  constructor(
    readonly store: SegmentStore,
    private readonly transport: Transport,
  ) {
    for (const segment of store.describe()) this.registerSegment(segment.segmentId);
  }

  get segmentSizeBytes(): number {
    return this.store.geometry.segmentSizeBytes;
  }

  async allocate(request: { topicId: number; partition: number; baseOffset: bigint }): Promise<SegmentDescriptor> {
    const segment = this.store.allocate(request);
    this.registerSegment(segment.segmentId);
    return segment;
  }

  async commit(segmentId: number, request: CommitRequest): Promise<SegmentDescriptor> {
    return this.store.commit(segmentId, request);
  }

  async writeSkipMarker(segmentId: number, position: number, bytes: Buffer): Promise<void> {
    this.store.writeSkipMarker(segmentId, position, bytes);
  }

  async seal(segmentId: number, finalPosition: number): Promise<SegmentDescriptor> {
    return this.store.seal(segmentId, { finalPosition });
  }

  async free(segmentId: number): Promise<void> {
    const regs = this.registrations.get(segmentId);
    if (regs) {
      regs.readWrite.deregister();
      regs.read.deregister();
      this.registrations.delete(segmentId);
    }
    this.store.free(segmentId);
  }

  async describe(): Promise<SegmentDescriptor[]> {
    return this.store.describe();
  }

  segmentKey(segmentId: number, access: 'read' | 'read-write'): Buffer {
    const regs = this.registrations.get(segmentId);
    if (!regs) throw new Error(`segment ${segmentId} is not registered on storage node ${this.nodeId}`);
    return (access === 'read' ? regs.read : regs.readWrite).packedKey();
  }

  read(segmentId: number, position: number, length: number): Buffer {
    return this.store.read(segmentId, position, length);
  }

  async written(segmentId: number, position: number, length: number): Promise<Buffer> {
    const range = this.store.dataRange(segmentId);
    if (position < 0 || length < 0 || position + length > range.lengthBytes) {
      throw new RangeError(`range [${position}, +${length}) is outside segment ${segmentId} of ${range.lengthBytes} bytes`);
    }
    return this.store.region.bytes(range.regionOffset + position, length);
  }

  close(): void {
    for (const regs of this.registrations.values()) {
      regs.readWrite.deregister();
      regs.read.deregister();
    }
    this.registrations.clear();
    this.store.close();
  }

  private registerSegment(segmentId: number): void {
    const range = this.store.dataRange(segmentId);
    const region = this.store.region;
    this.registrations.set(segmentId, {
      readWrite: this.transport.register(region, range.regionOffset, range.lengthBytes, 'read-write'),
      read: this.transport.register(region, range.regionOffset, range.lengthBytes, 'read'),
    });
  }
}
