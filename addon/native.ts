// Loads the compiled addon. UCX is configured through its environment, which
// it reads once when its libraries load, so the defaults below must be in
// place before the first require. Each stays overridable by the caller.
//
// Why these defaults: UCX's memory hooks rewrite the code of libc's mmap and
// munmap while V8's threads may be calling them (seen as crashes inside V8's
// compiler and hangs at exit), and its fatal-signal handler competes with
// Node's own. rdmq registers its memory explicitly, so it needs neither.
import * as path from 'path';
import { applyUcxDefaults } from './ucx-env';


export interface NativeRegion {
  readonly size: number;
  readonly storeGranularity: 'byte' | 'cache-line' | 'page';
  readonly memoryOnly: boolean;
  readonly path: string;
  buffer(offset: number, length: number): Uint8Array;
  persist(offset: number, length: number): void;
  prefault(offset: number, length: number): void;
  prefaultInBackground(offset: number, length: number): void;
  close(): void;
}

export interface NativeEndpoint {
  readonly closed: boolean;
  put(local: Uint8Array, key: NativeRemoteKey, remoteOffset: number): Promise<void>;
  get(local: Uint8Array, key: NativeRemoteKey, remoteOffset: number): Promise<void>;
  flush(): Promise<void>;
  sendAm(id: number, header: Uint8Array, payload: Uint8Array): Promise<void>;
  importKey(packed: Uint8Array): NativeRemoteKey;
  close(force?: boolean): Promise<void>;
  describe(): string;
}

export interface NativeRemoteKey {
  readonly length: number;
  destroy(): void;
}

export interface NativeMemoryRegistration {
  packedKey(): Buffer;
  deregister(): void;
}

export interface NativeTransportHandlers {
  am?: (id: number, header: Buffer, payload: Buffer) => void;
  endpointError?: (ep: NativeEndpoint, message: string) => void;
}

export interface NativeTransport {
  workerAddress(): Buffer;
  connectAddress(address: Uint8Array): NativeEndpoint;
  registerMemory(region: NativeRegion, offset: number, length: number, remoteWrite: boolean): NativeMemoryRegistration;
  setHandlers(handlers: NativeTransportHandlers): void;
  progress(): void;
  stats(): { outstandingOps: number; endpoints: number; registrations: number; pollScore: number; polling: boolean };
  memoryDomains(): string;
  /** Traffic on a door that is not UCX: `arrival` when a message came in, else one went out. */
  noteActivity(arrival: boolean): void;
  close(): void;
}

export interface NativeModule {
  Region: new (path: string, sizeBytes: number, create: boolean) => NativeRegion;
  Transport: new (options: { maxAmPayloadBytes?: number; peerErrorHandling?: boolean; pollWindowUs?: number }) => NativeTransport;
  ucxVersion(): string;
  /** PR_SET_DUMPABLE 0 and no key-less UCX transports from now on; returns the transports left out. */
  protectProcess(): string;
  crc32c(bytes: Uint8Array, initial: number): number;
  crc32cBlocks(bytes: Uint8Array, firstBlockOffset: number): Uint32Array;
  crc32cWithBlocks(bytes: Uint8Array, head: number, crcs: Uint32Array, valid: Uint8Array): number;
  PeerProcess: new (socketFd: number) => import('./peer-copy').NativePeerProcess;
  peerProcessPid(socketFd: number): number;
  allowPtracer(pid: number): void;
  bufferAddress(bytes: Uint8Array): bigint;
  /** Opens (creating) `path` and takes an exclusive flock on it; returns the descriptor (closing it releases the lock). */
  lockFileExclusive(path: string): number;
  /** True when crc32c uses CPU instructions (x86-64 SSE4.2) rather than tables. */
  readonly crc32cHardware: boolean;
  keepFreedMemory(mmapThresholdBytes: number, trimThresholdBytes: number): boolean;
  measureRoundTrips(count: number): Float64Array;
  /** Hands the free memory malloc kept back to the system (malloc_trim); true if any was. */
  releaseFreedMemory(): boolean;
}

let loaded: NativeModule | undefined;

export function native(): NativeModule {
  if (loaded === undefined) {
    applyUcxDefaults();
    // dist/addon/native.js -> <root>/build/Release
    const file = path.join(__dirname, '..', '..', 'build', 'Release', 'rdmq_native.node');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require(file) as NativeModule;
  }
  return loaded;
}
