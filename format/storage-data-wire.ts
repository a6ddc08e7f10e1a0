// The checked data path between fast-path clients and a storage node (one TCP
// connection per client and node; storage-node/data-service.ts serves it,
// rdma-client/data-link.ts speaks it). Every request carries the grant the
// broker handed the client; the node checks it before any byte lands in or
// leaves its region. Requests are answered in order.
//
// The same service listens on a Unix socket for clients on its host. There a
// request may name a buffer of the client's own instead of carrying bytes
// (PUT_CMA, GET_CMA): the node checks the grant as for any put or get, then
// copies between its region and the process the kernel says connected
// (SO_PEERCRED), never one a request names. LOCAL_DOOR, asked on either
// socket, answers where the Unix socket is and a token that tells the client
// the Unix socket is the same node; CMA_PROBE (Unix only) copies 8 bytes from
// the client to learn whether the kernel lets the node reach it.
//
// Request:  op u8 | grantBytes u8 | pad u16 | reqId u32 |
//           position u64 | lengthBytes u32 | pad u32 | grant |
//           PUT: payload; PUT_CMA, GET_CMA, CMA_PROBE: client address u64
// Response: reqId u32 | status u8 (0 ok, 1 error) | pad u8 | codeBytes u16 |
//           bodyBytes u32 | body (GET: the bytes; CMA_PROBE: the 8 bytes read;
//           LOCAL_DOOR: token, then the socket path; error: code, then message)

export const DataOp = { PUT: 1, GET: 2, PUT_CMA: 3, GET_CMA: 4, LOCAL_DOOR: 5, CMA_PROBE: 6 } as const;
export type DataOpCode = (typeof DataOp)[keyof typeof DataOp];

export const DATA_REQUEST_HEADER_BYTES = 24;
export const DATA_RESPONSE_HEADER_BYTES = 12;
export const DATA_GRANT_BYTES_MAX = 255;
/** The client address after the grant of PUT_CMA, GET_CMA and CMA_PROBE. */
export const DATA_CLIENT_ADDRESS_BYTES = 8;
export const LOCAL_DOOR_TOKEN_BYTES = 16;
export const CMA_PROBE_BYTES = 8;

/** Whether the request carries a client address after its grant. */
export function namesClientAddress(op: DataOpCode): boolean {
  return op === DataOp.PUT_CMA || op === DataOp.GET_CMA || op === DataOp.CMA_PROBE;
}

export interface DataRequestHeader {
  op: DataOpCode;
  grantBytes: number;
  reqId: number;
  position: number;
  lengthBytes: number;
}

export function encodeDataRequest(op: DataOpCode, reqId: number, grant: Uint8Array, position: number, lengthBytes: number, clientAddress?: bigint): Buffer {
  if (grant.length > DATA_GRANT_BYTES_MAX) throw new RangeError(`grant of ${grant.length} bytes exceeds ${DATA_GRANT_BYTES_MAX}`);
  if (namesClientAddress(op) !== (clientAddress !== undefined)) throw new RangeError(`op ${op} ${clientAddress === undefined ? 'needs' : 'takes no'} client address`);
  const trailer = clientAddress === undefined ? 0 : DATA_CLIENT_ADDRESS_BYTES;
  if (!Number.isSafeInteger(position) || position < 0) throw new RangeError(`position ${position} is not a non-negative integer`);
  // From the pool (one allocation per request, on the put path): only the pads need zeroing.
  const out = Buffer.allocUnsafe(DATA_REQUEST_HEADER_BYTES + grant.length + trailer);
  out.fill(0, 0, DATA_REQUEST_HEADER_BYTES);
  out.writeUInt8(op, 0);
  out.writeUInt8(grant.length, 1);
  out.writeUInt32LE(reqId >>> 0, 4);
  out.writeUInt32LE(position % 2 ** 32, 8);
  out.writeUInt32LE(Math.floor(position / 2 ** 32), 12);
  out.writeUInt32LE(lengthBytes, 16);
  out.set(grant, DATA_REQUEST_HEADER_BYTES);
  if (clientAddress !== undefined) out.writeBigUInt64LE(clientAddress, DATA_REQUEST_HEADER_BYTES + grant.length);
  return out;
}

const DATA_OPS: ReadonlySet<number> = new Set(Object.values(DataOp));

export function decodeDataRequestHeader(bytes: Buffer): DataRequestHeader {
  const op = bytes.readUInt8(0);
  if (!DATA_OPS.has(op)) throw new RangeError(`unknown data op ${op}`);
  const position = bytes.readBigUInt64LE(8);
  if (position > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`position ${position} is out of range`);
  return { op: op as DataOpCode, grantBytes: bytes.readUInt8(1), reqId: bytes.readUInt32LE(4), position: Number(position), lengthBytes: bytes.readUInt32LE(16) };
}

/** LOCAL_DOOR's answer body: the service's token, then its Unix socket path (empty: none). */
export function encodeLocalDoor(token: Buffer, socketPath: string): Buffer {
  return Buffer.concat([token, Buffer.from(socketPath)]);
}

export function decodeLocalDoor(body: Buffer): { token: Buffer; socketPath: string } {
  if (body.length < LOCAL_DOOR_TOKEN_BYTES) throw new RangeError(`local door answer of ${body.length} bytes is shorter than its token`);
  return { token: body.subarray(0, LOCAL_DOOR_TOKEN_BYTES), socketPath: body.subarray(LOCAL_DOOR_TOKEN_BYTES).toString() };
}

export function encodeDataResponse(reqId: number, bodyBytes: number): Buffer {
  const out = Buffer.allocUnsafe(DATA_RESPONSE_HEADER_BYTES);
  out.writeUInt32LE(reqId >>> 0, 0);
  out.writeUInt32LE(0, 4);
  out.writeUInt32LE(bodyBytes, 8);
  return out;
}

export function encodeDataError(reqId: number, code: string, message: string): Buffer {
  const codeBytes = Buffer.from(code);
  const text = Buffer.from(message);
  const out = Buffer.alloc(DATA_RESPONSE_HEADER_BYTES + codeBytes.length + text.length);
  out.writeUInt32LE(reqId >>> 0, 0);
  out.writeUInt8(1, 4);
  out.writeUInt16LE(codeBytes.length, 6);
  out.writeUInt32LE(codeBytes.length + text.length, 8);
  codeBytes.copy(out, DATA_RESPONSE_HEADER_BYTES);
  text.copy(out, DATA_RESPONSE_HEADER_BYTES + codeBytes.length);
  return out;
}

export interface DataResponseHeader {
  reqId: number;
  failed: boolean;
  codeBytes: number;
  bodyBytes: number;
}

export function decodeDataResponseHeader(bytes: Buffer): DataResponseHeader {
  return { reqId: bytes.readUInt32LE(0), failed: bytes.readUInt8(4) !== 0, codeBytes: bytes.readUInt16LE(6), bodyBytes: bytes.readUInt32LE(8) };
}
