// The only way the rest of rdmq reaches native code.
export { AddonError, AddonErrorCode } from './errors';
export { Region, StoreGranularity } from './region';
export { Access, Endpoint, MAX_MESSAGE_ID, MemoryRegistration, MessageHandler, RemoteKey, Transport, TransportOptions } from './transport';
export { crc32c } from './crc32c';
export { lockFileExclusive } from './file-lock';

import { native } from './native';

/** The UCX library version in use, e.g. "1.13.1". */
export function ucxVersion(): string {
  return native().ucxVersion();
}
