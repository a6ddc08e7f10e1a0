// The checked data path between fast-path clients and a storage node (one TCP
// connection per client and node; storage-node/data-service.ts serves it,
// rdma-client/data-link.ts speaks it). Every request carries the grant the
// broker handed the client; the node checks it before any byte lands in or
// leaves its region. Requests are answered in order.
//
// Request:  op u8 (1 put, 2 get) | grantBytes u8 | pad u16 | reqId u32 |
//           position u64 | lengthBytes u32 | pad u32 | grant | put: payload
// Response: reqId u32 | status u8 (0 ok, 1 error) | pad u8 | codeBytes u16 |
//           bodyBytes u32 | body (get: the bytes; error: code, then message)

export const DataOp = { PUT: 1, GET: 2 } as const;
export type DataOpCode = (typeof DataOp)[keyof typeof DataOp];

export const DATA_REQUEST_HEADER_BYTES = 24;
export const DATA_RESPONSE_HEADER_BYTES = 12;
export const DATA_GRANT_BYTES_MAX = 255;

export interface DataRequestHeader {
  op: DataOpCode;
  grantBytes: number;
  reqId: number;
  position: number;
  lengthBytes: number;
}

export function encodeDataRequest(op: DataOpCode, reqId: number, grant: Uint8Array, position: number, lengthBytes: number): Buffer {
  if (grant.length > DATA_GRANT_BYTES_MAX) throw new RangeError(`grant of ${grant.length} bytes exceeds ${DATA_GRANT_BYTES_MAX}`);
  const out = Buffer.alloc(DATA_REQUEST_HEADER_BYTES + grant.length);
  out.writeUInt8(op, 0);
  out.writeUInt8(grant.length, 1);
  out.writeUInt32LE(reqId >>> 0, 4);
  out.writeBigUInt64LE(BigInt(position), 8);
  out.writeUInt32LE(lengthBytes, 16);
  out.set(grant, DATA_REQUEST_HEADER_BYTES);
  return out;
}

export function decodeDataRequestHeader(bytes: Buffer): DataRequestHeader {
  const op = bytes.readUInt8(0);
  if (op !== DataOp.PUT && op !== DataOp.GET) throw new RangeError(`unknown data op ${op}`);
  const position = bytes.readBigUInt64LE(8);
  if (position > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`position ${position} is out of range`);
  return { op, grantBytes: bytes.readUInt8(1), reqId: bytes.readUInt32LE(4), position: Number(position), lengthBytes: bytes.readUInt32LE(16) };
}

export function encodeDataResponse(reqId: number, bodyBytes: number): Buffer {
  const out = Buffer.alloc(DATA_RESPONSE_HEADER_BYTES);
  out.writeUInt32LE(reqId >>> 0, 0);
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
