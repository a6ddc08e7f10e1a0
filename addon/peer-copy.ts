// Same-host copies the kernel checks (CMA), for the storage node's local data
// path. The storage node names its peer only by an accepted Unix socket
// (SO_PEERCRED and the kernel's pidfd): no caller can hand it a pid, so no
// request can make it read or write a process other than the one that
// connected. What the copy may touch on this side is the caller's policy.
import type { Socket } from 'net';
import { nativeAsync, nativeCall } from './errors';
import { native } from './native';

export interface NativePeerProcess {
  readonly pid: number;
  readonly uid: number;
  readInto(target: Uint8Array, remoteAddress: bigint): void;
  writeFrom(source: Uint8Array, remoteAddress: bigint): void;
  writeFromAsync(source: Uint8Array, remoteAddress: bigint): Promise<void>;
  readIntoAsync(target: Uint8Array, remoteAddress: bigint, landed?: Int32Array, index?: number, blockCrcs?: Uint32Array, firstBlockOffset?: number): Promise<void>;
  close(): void;
}

/** The process at the other end of an accepted Unix socket, reached by process_vm_readv / process_vm_writev. */
export class PeerProcess {
  private readonly handle: NativePeerProcess;

  /** `socketFd`: the descriptor of an accepted, connected Unix stream socket. */
  constructor(socketFd: number) {
    this.handle = nativeCall(() => new (native().PeerProcess)(socketFd));
  }

  get pid(): number {
    return this.handle.pid;
  }

  get uid(): number {
    return this.handle.uid;
  }

  /** Copies `target.length` bytes from the peer's `remoteAddress` into `target`. */
  readInto(target: Uint8Array, remoteAddress: bigint): void {
    nativeCall(() => this.handle.readInto(target, remoteAddress));
  }

  /** Copies `source` into the peer at `remoteAddress`. */
  writeFrom(source: Uint8Array, remoteAddress: bigint): void {
    nativeCall(() => this.handle.writeFrom(source, remoteAddress));
  }

  /** The same copy on libuv's thread pool: this thread goes on meanwhile. `source` must stay valid until it settles. */
  writeFromAsync(source: Uint8Array, remoteAddress: bigint): Promise<void> {
    return nativeAsync(() => this.handle.writeFromAsync(source, remoteAddress));
  }

  /**
   * readInto on the thread pool. `landed[index]` (an Int32Array on a
   * SharedArrayBuffer) reads 1 from this call until no byte of the copy can
   * move any more (done or failed), then 0: set on the pool thread, so this
   * thread may wait for it (Atomics) without running the promise's callbacks.
   * `target` must stay valid until the promise settles.
   *
   * `blocks`: the copying threads also fill `blocks.crcs[k]` with the block
   * CRC (crc32cBlocks) of target's k-th whole block of CRC_BLOCK_BYTES, the
   * first starting at `blocks.firstBlockOffset`, before the copy counts as
   * landed. Valid once the promise resolved.
   */
  readIntoAsync(target: Uint8Array, remoteAddress: bigint, landed: Int32Array, index: number, blocks?: { crcs: Uint32Array; firstBlockOffset: number }): Promise<void> {
    return nativeAsync(() => this.handle.readIntoAsync(target, remoteAddress, landed, index, blocks?.crcs, blocks?.firstBlockOffset));
  }

  /** Lets the process go (copies under way finish first). */
  close(): void {
    this.handle.close();
  }
}

/** The descriptor of an accepted, connected socket (libuv's handle; Unix only), for PeerProcess. */
export function acceptedSocketFd(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('the accepted socket has no descriptor');
  return fd;
}

/** The pid of the process at the other end of a connected Unix socket, as the kernel recorded it. */
export function peerProcessPid(socketFd: number): number {
  return nativeCall(() => native().peerProcessPid(socketFd));
}

/** prctl(PR_SET_PTRACER, pid): lets `pid` reach this process with CMA under Yama ptrace_scope 1. */
export function allowPtracer(pid: number): void {
  nativeCall(() => native().allowPtracer(pid));
}

/** The address of `bytes`' first byte in this process (for a peer that copies with CMA). */
export function bufferAddress(bytes: Uint8Array): bigint {
  return nativeCall(() => native().bufferAddress(bytes));
}
