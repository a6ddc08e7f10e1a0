// The only way the rest of rdmq reaches native code.
export { AddonError, AddonErrorCode } from './errors';
export { Region, StoreGranularity, inMemoryOnlyFilesystem } from './region';
export { Access, Endpoint, MAX_MESSAGE_ID, MemoryRegistration, MessageHandler, noteLoopActivity, RemoteKey, Transport, TransportOptions } from './transport';
export { crc32c, crc32cBlocks, crc32cWithBlocks, CRC_BLOCK_BYTES } from './crc32c';
export { lockFileExclusive } from './file-lock';
export { keepFreedMemory } from './allocator';
export { measureRoundTrips } from './round-trips';
export { PeerProcess, acceptedSocketFd, allowPtracer, bufferAddress, peerProcessPid } from './peer-copy';

import { native } from './native';

/** The UCX library version in use, e.g. "1.13.1". */
export function ucxVersion(): string {
  return native().ucxVersion();
}

/**
 * Call once, before any Transport is created, in a process that holds a
 * storage node's memory: no same-user process may ptrace it or reach it with
 * CMA any more (PR_SET_DUMPABLE 0), and UCX leaves out its transports that do
 * not enforce memory keys (tcp, cma). Returns the transports left out.
 */
export function protectStorageProcess(): string {
  return native().protectProcess();
}
