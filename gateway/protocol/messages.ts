// Whole Kafka messages: header + body, for every API in apis/.
//
// Request header v1 (non-flexible) / v2 (flexible):
//   api_key int16, api_version int16, correlation_id int32,
//   client_id nullable string (classic int16 length even in v2), [v2: tagged fields]
// Response header v0 / v1: correlation_id int32, [v1: tagged fields].
// ApiVersions responses always use header v0, so a client that does not yet
// know the broker's versions can read them.

import { allApis } from './apis';
import { ApiPlans, SchemaError, compileApi, readStruct, readTaggedFields, writeStruct } from './codec';
import { ProtocolError } from './errors';
import { ApiSpec, InputOf, RequestOf, ResponseOf } from './schema';
import { ReadLimits, Reader, Writer, defaultReadLimits } from './wire';

type AnyApi = (typeof allApis)[number];
export type ApiName = AnyApi['name'];
type ApiNamed<N extends ApiName> = Extract<AnyApi, { name: N }>;

export interface RequestHeader {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
}

/** A decoded request; switch on `apiName` to get a typed body. */
export type DecodedRequest = {
  [N in ApiName]: { apiName: N; header: RequestHeader; body: RequestOf<ApiNamed<N>> };
}[ApiName];

export type RequestBody<N extends ApiName> = RequestOf<ApiNamed<N>>;
export type ResponseBody<N extends ApiName> = ResponseOf<ApiNamed<N>>;
/** What a handler returns: any field may be left out and gets its default. */
export type ResponseInput<N extends ApiName> = InputOf<ApiNamed<N>['response']>;
export type RequestInput<N extends ApiName> = InputOf<ApiNamed<N>['request']>;

export interface ApiVersionRange {
  apiKey: number;
  minVersion: number;
  maxVersion: number;
}

const apiVersionsKey = 18;

interface Registered {
  readonly api: ApiSpec;
  readonly plans: Map<number, ApiPlans>;
}

const registry = new Map<number, Registered>();
for (const api of allApis as readonly ApiSpec[]) {
  if (registry.has(api.apiKey)) throw new Error(`api key ${api.apiKey} described twice`);
  registry.set(api.apiKey, { api, plans: compileApi(api) });
}

/** What ApiVersions advertises: exactly the described APIs and versions, by api key. */
export const supportedApiVersions: readonly ApiVersionRange[] = [...registry.values()]
  .map(({ api }) => ({ apiKey: api.apiKey, minVersion: api.minVersion, maxVersion: api.maxVersion }))
  .sort((a, b) => a.apiKey - b.apiKey);

/** Api keys by name, e.g. apiKeys.Produce === 0. */
export const apiKeys = Object.fromEntries((allApis as readonly ApiSpec[]).map((a) => [a.name, a.apiKey])) as {
  [N in ApiName]: ApiNamed<N>['apiKey'];
};

export function apiSpec(apiKey: number): ApiSpec | undefined {
  return registry.get(apiKey)?.api;
}

function plansFor(apiKey: number, apiVersion: number): { api: ApiSpec; plans: ApiPlans } | null {
  const entry = registry.get(apiKey);
  const plans = entry?.plans.get(apiVersion);
  return entry && plans ? { api: entry.api, plans } : null;
}

function plansOrThrow(apiKey: number, apiVersion: number): { api: ApiSpec; plans: ApiPlans } {
  const found = plansFor(apiKey, apiVersion);
  if (!found) throw new SchemaError(`api key ${apiKey} v${apiVersion} is not described`);
  return found;
}

function readLimits(limits?: Partial<ReadLimits>): ReadLimits {
  return limits ? { ...defaultReadLimits, ...limits } : defaultReadLimits;
}

function readClientId(r: Reader): string | null {
  const n = r.int16();
  if (n < 0) return null;
  if (n > r.remaining) r.fail(`client id of ${n} bytes exceeds the bytes left`);
  return r.utf8(n);
}

/**
 * Decodes one request frame (without its 4-byte size prefix).
 * Throws ProtocolError: UNSUPPORTED_VERSION for an API key or version not
 * described here, INVALID_REQUEST for malformed bytes; both carry the
 * correlation id whenever the first 8 bytes were readable.
 */
export function decodeRequest(frame: Buffer, limits?: Partial<ReadLimits>): DecodedRequest {
  if (frame.length < 8) {
    throw new ProtocolError('INVALID_REQUEST', `request of ${frame.length} bytes is shorter than its 8-byte header`);
  }
  const r = new Reader(frame, 0, frame.length, readLimits(limits));
  const apiKey = r.int16();
  const apiVersion = r.int16();
  const correlationId = r.int32();
  const ids = { correlationId, apiKey, apiVersion };
  const found = plansFor(apiKey, apiVersion);
  if (!found) {
    const api = registry.get(apiKey)?.api;
    const detail = api
      ? `${api.name} v${apiVersion} is not supported; supported versions are ${api.minVersion}-${api.maxVersion}`
      : `api key ${apiKey} is not supported`;
    throw new ProtocolError('UNSUPPORTED_VERSION', detail, ids);
  }
  const { api, plans } = found;
  try {
    const clientId = readClientId(r);
    if (plans.flexible) readTaggedFields(r, null, {});
    const body = readStruct(r, plans.request);
    if (r.remaining !== 0) r.fail(`${r.remaining} bytes left after the body`);
    return { apiName: api.name, header: { apiKey, apiVersion, correlationId, clientId }, body } as DecodedRequest;
  } catch (e) {
    if (e instanceof ProtocolError) {
      throw new ProtocolError('INVALID_REQUEST', `${api.name} v${apiVersion} request: ${e.detail}`, ids);
    }
    throw e;
  }
}

/** Encodes a request frame, including its 4-byte size prefix. */
export function encodeRequest(header: RequestHeader, body: object): Buffer {
  const { plans } = plansOrThrow(header.apiKey, header.apiVersion);
  const w = new Writer();
  const setSize = w.reserveInt32();
  w.int16(header.apiKey);
  w.int16(header.apiVersion);
  w.int32(header.correlationId);
  if (header.clientId === null) {
    w.int16(-1);
  } else {
    const n = Buffer.byteLength(header.clientId, 'utf8');
    w.int16(n);
    w.utf8(header.clientId, n);
  }
  if (plans.flexible) w.uvarint(0);
  writeStruct(w, plans.request, body as Record<string, unknown>);
  setSize(w.length - 4);
  return w.toBuffer();
}

function writeResponse(apiKey: number, apiVersion: number, correlationId: number, body: object): Writer {
  const { plans } = plansOrThrow(apiKey, apiVersion);
  const w = new Writer(512);
  const setSize = w.reserveInt32();
  w.int32(correlationId);
  if (plans.flexible && apiKey !== apiVersionsKey) w.uvarint(0);
  writeStruct(w, plans.response, body as Record<string, unknown>);
  setSize(w.length - 4);
  return w;
}

/** Encodes a response frame, including its 4-byte size prefix. Fields left out get their defaults. */
export function encodeResponse(apiKey: number, apiVersion: number, correlationId: number, body: object): Buffer {
  return writeResponse(apiKey, apiVersion, correlationId, body).toBuffer();
}

/**
 * Like encodeResponse, but as a list of buffers for socket writev: large
 * byte fields (record batches) are referenced, not copied.
 */
export function encodeResponseChunks(apiKey: number, apiVersion: number, correlationId: number, body: object): Buffer[] {
  return writeResponse(apiKey, apiVersion, correlationId, body).toChunks();
}

/** Decodes a response frame (without its size prefix) for a request of this key and version. */
export function decodeResponse(
  apiKey: number,
  apiVersion: number,
  frame: Buffer,
  limits?: Partial<ReadLimits>,
): { correlationId: number; body: Record<string, unknown> } {
  const found = plansFor(apiKey, apiVersion);
  if (!found) throw new ProtocolError('UNSUPPORTED_VERSION', `api key ${apiKey} v${apiVersion} is not supported`);
  const r = new Reader(frame, 0, frame.length, readLimits(limits));
  const correlationId = r.int32();
  try {
    if (found.plans.flexible && apiKey !== apiVersionsKey) readTaggedFields(r, null, {});
    const body = readStruct(r, found.plans.response);
    if (r.remaining !== 0) r.fail(`${r.remaining} bytes left after the body`);
    return { correlationId, body };
  } catch (e) {
    if (e instanceof ProtocolError) {
      throw new ProtocolError('INVALID_REQUEST', `${found.api.name} v${apiVersion} response: ${e.detail}`, {
        correlationId,
        apiKey,
        apiVersion,
      });
    }
    throw e;
  }
}
