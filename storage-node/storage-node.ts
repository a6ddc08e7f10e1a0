// A storage node: the SegmentStore plus the UCX registration of every
// segment's data area. Each segment is registered twice: read-write (its key
// goes only to producers the broker granted a stage in it) and read-only (for
// consumers). Keys are handed out by the broker, never by the node itself.
import { MemoryRegistration, Transport } from '../addon';
import type { ProducerScan } from '../format';
import { checkStoredBatches, ExpectedBatches } from './batch-check';
import { AllocateRequest, CommitRequest, SegmentDescriptor, SegmentStore } from './segment-store';
import { StorageError } from './storage-error';

export type SegmentAccess = 'read' | 'read-write';

interface Registrations {
  readWrite: MemoryRegistration;
  read: MemoryRegistration;
}

export class StorageNode {
  private readonly registrations = new Map<number, Registrations>();

  constructor(
    readonly store: SegmentStore,
    private readonly transport: Transport,
    /** Where clients reach this node's memory (UCX bootstrap HOST:PORT). */
    public fastpathAddress = '',
  ) {
    for (const segment of store.describe()) this.register(segment.segmentId);
  }

  get nodeId(): string {
    return this.store.superblock.nodeUuid;
  }

  allocate(request: AllocateRequest): SegmentDescriptor {
    const segment = this.store.allocate(request);
    this.register(segment.segmentId);
    return segment;
  }

  commit(segmentId: number, request: CommitRequest): SegmentDescriptor {
    return this.store.commit(segmentId, request);
  }

  free(segmentId: number): void {
    const regs = this.registrations.get(segmentId);
    if (regs) {
      regs.readWrite.deregister();
      regs.read.deregister();
      this.registrations.delete(segmentId);
    }
    this.store.free(segmentId);
  }

  segmentKey(segmentId: number, access: SegmentAccess): Buffer {
    const regs = this.registrations.get(segmentId);
    if (!regs) throw new StorageError('UNKNOWN_SEGMENT', `segment ${segmentId} is not registered on storage node ${this.nodeId}`);
    return (access === 'read' ? regs.read : regs.readWrite).packedKey();
  }

  /** Checks bytes a producer wrote (not yet committed) before the broker commits them. */
  verify(segmentId: number, position: number, lengthBytes: number, expected: ExpectedBatches, where: string): void {
    checkStoredBatches(this.store.written(segmentId, position, lengthBytes), expected, where);
  }

  scanProducers(segmentId: number): ProducerScan {
    return this.store.scanProducers(segmentId);
  }

  close(): void {
    for (const regs of this.registrations.values()) {
      regs.readWrite.deregister();
      regs.read.deregister();
    }
    this.registrations.clear();
    this.store.close();
  }

  private register(segmentId: number): void {
    const range = this.store.dataRange(segmentId);
    const region = this.store.region;
    this.registrations.set(segmentId, {
      readWrite: this.transport.register(region, range.regionOffset, range.lengthBytes, 'read-write'),
      read: this.transport.register(region, range.regionOffset, range.lengthBytes, 'read'),
    });
  }
}
