// The storage node's checked data path (format/storage-data-wire.ts): clients
// put and get segment bytes over TCP, and the node checks each request's grant
// (StorageNode.writableRange / readableRange) before a byte lands in or leaves
// the region. A put's payload is copied from the socket straight into the
// granted range of the region; a get is answered from a view of the region.
// A refused request is answered with its error and the connection goes on; a
// frame that cannot be read closes that connection, never the process.
//
// Contract: single-threaded (JS); requests on one connection are served in order.
import * as net from 'net';
import { ChunkQueue } from '../format/chunk-queue';
import {
  DATA_REQUEST_HEADER_BYTES,
  DataOp,
  DataRequestHeader,
  decodeDataRequestHeader,
  encodeDataError,
  encodeDataResponse,
} from '../format/storage-data-wire';
import { GRANT_BYTES } from './grant';
import { StorageError } from './storage-error';
import type { StorageNode } from './storage-node';

export interface DataService {
  port: number;
  /** Requests refused so far, and connections closed for unreadable frames. */
  stats(): { refused: number; badFrames: number; connections: number };
  close(): Promise<void>;
}

interface PendingPut {
  header: DataRequestHeader;
  /** Where the payload goes, or null when the put was refused (its payload is read and dropped). */
  target: Buffer | null;
  refusal?: Buffer;
  received: number;
}

export async function startDataService(node: StorageNode, host: string, port: number, log: (message: string) => void = () => undefined): Promise<DataService> {
  const lengthMax = node.store.maxDataCapacityBytes;
  const sockets = new Set<net.Socket>();
  let refused = 0;
  let badFrames = 0;

  const serve = (socket: net.Socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const where = `${socket.remoteAddress}:${socket.remotePort}`;
    const queue = new ChunkQueue();
    let header: DataRequestHeader | undefined;
    let put: PendingPut | undefined;

    const fail = (reqId: number, err: unknown): Buffer => {
      refused++;
      const e = err instanceof StorageError ? err : new StorageError('INTERNAL', (err as Error).message);
      return encodeDataError(reqId, e.code, e.message);
    };

    const step = (): boolean => {
      if (put) {
        const want = put.header.lengthBytes - put.received;
        put.received += queue.moveInto(put.target, put.received, want);
        if (put.received < put.header.lengthBytes) return false;
        socket.write(put.refusal ?? encodeDataResponse(put.header.reqId, 0));
        put = undefined;
        return true;
      }
      if (!header) {
        if (queue.available < DATA_REQUEST_HEADER_BYTES) return false;
        try {
          header = decodeDataRequestHeader(queue.take(DATA_REQUEST_HEADER_BYTES));
        } catch (err) {
          throw new Error(`unreadable request header: ${(err as Error).message}`);
        }
        if (header.lengthBytes > lengthMax) throw new Error(`request for ${header.lengthBytes} bytes exceeds the largest segment (${lengthMax} bytes)`);
      }
      if (queue.available < header.grantBytes) return false;
      const h = header;
      header = undefined;
      // A verbs key carries the grant first and the segment's UCX key after it.
      const grant = queue.take(h.grantBytes).subarray(0, GRANT_BYTES);
      if (h.op === DataOp.PUT) {
        try {
          put = { header: h, target: node.writableRange(grant, h.position, h.lengthBytes), received: 0 };
        } catch (err) {
          put = { header: h, target: null, refusal: fail(h.reqId, err), received: 0 };
        }
        return true;
      }
      try {
        const bytes = node.readableRange(grant, h.position, h.lengthBytes);
        socket.write(encodeDataResponse(h.reqId, bytes.length));
        // Copied: the region's bytes may change (a late writer's range, a freed segment reused) before the socket sends them.
        socket.write(Buffer.from(bytes));
      } catch (err) {
        socket.write(fail(h.reqId, err));
      }
      return true;
    };

    socket.on('data', (chunk: Buffer) => {
      queue.push(chunk);
      try {
        while (step());
      } catch (err) {
        badFrames++;
        log(`storage data connection from ${where} closed: ${(err as Error).message}`);
        socket.destroy();
      }
    });
  };

  const server = net.createServer(serve);
  const bound = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
  return {
    port: bound,
    stats: () => ({ refused, badFrames, connections: sockets.size }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
