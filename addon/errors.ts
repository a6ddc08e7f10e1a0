// One error type for the native layer. `code` is stable and switchable;
// the message says what was wrong and what is allowed.
export type AddonErrorCode =
  | 'ERR_INVALID_ARG'
  | 'ERR_REGION_OPEN'
  | 'ERR_REGION_TOO_SMALL'
  | 'ERR_REGION_MAP'
  | 'ERR_REGION_CLOSED'
  | 'ERR_OUT_OF_RANGE'
  | 'ERR_TRANSPORT_CLOSED'
  | 'ERR_ALREADY_LISTENING'
  | 'ERR_ADDRESS_IN_USE'
  | 'ERR_ENDPOINT_CLOSED'
  | 'ERR_PEER_UNREACHABLE'
  | 'ERR_BAD_REMOTE_KEY'
  | 'ERR_DEREGISTERED'
  | 'ERR_MESSAGE_TOO_LARGE'
  | 'ERR_ACCESS_DENIED'
  | 'ERR_LOCK_OPEN'
  | 'ERR_LOCKED'
  | 'ERR_COPY_DENIED'
  | 'ERR_COPY_FAULT'
  | 'ERR_COPY'
  | 'ERR_PEER_GONE'
  | 'ERR_UCX';

/** Codes after which retrying the same call (possibly on a new connection) can succeed. */
const RETRIABLE: ReadonlySet<AddonErrorCode> = new Set(['ERR_PEER_UNREACHABLE', 'ERR_UCX']);

export class AddonError extends Error {
  readonly retriable: boolean;
  constructor(
    readonly code: AddonErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'AddonError';
    this.retriable = RETRIABLE.has(code);
  }
}

// Native errors come from the main realm's Error, so `instanceof Error` is not
// reliable (under jest's vm contexts, for one); recognise them by shape.
function fromNative(err: unknown): unknown {
  if (err instanceof AddonError || typeof err !== 'object' || err === null) return err;
  const { code, message } = err as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && code.startsWith('ERR_') && typeof message === 'string') {
    return new AddonError(code as AddonErrorCode, message);
  }
  return err;
}

/** Runs a native call, turning its errors into AddonError. */
export function nativeCall<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromNative(err);
  }
}

/** Runs a native call that returns a Promise, turning sync and async errors into AddonError. */
export function nativeAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn().catch((err: unknown) => {
      throw fromNative(err);
    });
  } catch (err) {
    return Promise.reject(fromNative(err));
  }
}
