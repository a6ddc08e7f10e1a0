// One-sided access where the NIC enforces it. Only on an RDMA memory domain
// (UCX's ib component: InfiniBand/RoCE verbs) does a memory registration bind
// a remote key to exactly its range and rights, checked by the NIC on every
// put and get. There each segment gets its own registrations with exactly
// the access granted: read-write for producers while it is open (read-only
// once sealed), read-only for consumers; both are unmapped when it is freed.
// Everywhere else (shared memory, CMA, TCP — none of which check a key) the
// node registers nothing for remote access and every byte goes through the
// checked data service (data-service.ts).
//
// NOT RUN HERE: the development and CI hosts have no ib memory domain, so
// `fastPathModeOf` answers 'checked' there and this class is never built.
// The SDK's one-sided path for these keys (the key after the grant, see
// StorageNode.segmentKey) is still to be wired in rdma-client/storage-links.ts;
// until then an RDMA host serves clients through the checked path as well.
import { MemoryRegistration, Transport } from '../addon';
import type { SegmentStore } from './segment-store';

export type FastPathMode = 'checked' | 'verbs';

/** 'verbs' when the transport's UCX context has an ib memory domain, else 'checked'. RDMQ_FASTPATH_MODE=checked forces the checked path. */
export function fastPathModeOf(transport: Transport | undefined): FastPathMode {
  if (!transport || process.env.RDMQ_FASTPATH_MODE === 'checked') return 'checked';
  return hasIbMemoryDomain(transport.memoryDomains()) ? 'verbs' : 'checked';
}

/** Reads UCX's context description: `component N : ib` and an `md M : component N ...` line using it. */
export function hasIbMemoryDomain(description: string): boolean {
  const ib = /component\s+(\d+)\s*:\s*ib\s*$/m.exec(description);
  if (!ib) return false;
  return new RegExp(`md\\s+\\d+\\s*:\\s*component\\s+${ib[1]}\\s+\\S+`, 'm').test(description);
}

interface SegmentRegistrations {
  write?: MemoryRegistration;
  read: MemoryRegistration;
}

export class VerbsRegistrations {
  private readonly bySegment = new Map<number, SegmentRegistrations>();

  constructor(
    private readonly store: SegmentStore,
    private readonly transport: Transport,
  ) {}

  add(segmentId: number, sealed: boolean): void {
    const { regionOffset, lengthBytes } = this.store.dataRange(segmentId);
    const register = (access: 'read' | 'read-write') => this.transport.register(this.store.region, regionOffset, lengthBytes, access);
    this.bySegment.set(segmentId, { read: register('read'), write: sealed ? undefined : register('read-write') });
  }

  /** Writers' registration goes; a writer's key from now on is read-only. */
  sealed(segmentId: number): void {
    const regs = this.bySegment.get(segmentId);
    regs?.write?.deregister();
    if (regs) regs.write = undefined;
  }

  remove(segmentId: number): void {
    const regs = this.bySegment.get(segmentId);
    regs?.write?.deregister();
    regs?.read.deregister();
    this.bySegment.delete(segmentId);
  }

  packedKey(segmentId: number, access: 'read' | 'read-write'): Buffer | undefined {
    const regs = this.bySegment.get(segmentId);
    if (!regs) return undefined;
    return (access === 'read-write' ? regs.write ?? regs.read : regs.read).packedKey();
  }

  close(): void {
    for (const id of [...this.bySegment.keys()]) this.remove(id);
  }
}
