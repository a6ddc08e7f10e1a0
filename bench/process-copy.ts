// The fast path's own limit on a machine without an RDMA NIC: one copy
// between two processes, made by the kernel (CMA), as the storage node makes
// every put and get of a client on its host (storage-node/data-service.ts).
// A put is process_vm_readv from the client's buffer into the node's region,
// a get process_vm_writev from the region into the client's buffer; each is
// one thread's copy, like the memcpy limit beside it (the node copies several
// puts or parts of a get at once, on its pool's threads). On this kind of
// host every byte moved costs the node's CPU at least one such copy, so its
// CPU per GB cannot fall below 1 / this rate: with a NIC, neither copy would
// use a CPU of the node at all.
//
// Sketch: the peer is a child of this process holding one buffer of
// `sizeBytes`; puts and gets cycle through the slots of the same kind of
// scratch region as the memcpy limit (scratch-region.ts), for about
// `seconds` each. Each
// direction is checked once afterwards (the bytes that arrived are the bytes
// sent), so a copy that silently did nothing cannot pass for a fast one.
import { fork } from 'child_process';
import * as net from 'net';
import * as path from 'path';
import { acceptedSocketFd, crc32c, PeerProcess } from '../addon';
import { copiesMBps, openScratchRegion } from './scratch-region';

/** MB/s of one CMA copy between two processes: into a region (a put) and out of it (a get). */
export interface ProcessCopyMBps {
  put: number;
  get: number;
}

const PEER_READY_MS_MAX = 30_000;

/** Deterministic bytes for a copy's check: byte i of `seed`'s pattern. */
export function fillPattern(bytes: Uint8Array, seed: number): void {
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 131 + seed * 29 + (i >>> 8)) & 0xff;
}

export async function measureProcessCopyMBps(sizeBytes: number, seconds = 0.5): Promise<ProcessCopyMBps> {
  const region = openScratchRegion('cma', sizeBytes);
  const server = net.createServer();
  let child: ReturnType<typeof fork> | undefined;
  let peer: PeerProcess | undefined;
  let socket: net.Socket | undefined;
  try {
    const socketPath = path.join(region.dir, 'peer.sock');
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socketPath, resolve));
    const seed = 1 + Math.floor(Math.random() * 250);
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    child = fork(path.join(__dirname, 'process-copy-peer.js'), [socketPath, String(sizeBytes), String(seed)], { stdio: 'inherit' });
    const exited = new Promise<never>((_, reject) => child!.once('exit', (code) => reject(new Error(`the CMA peer exited (${code}) before the copies ended`))));
    socket = await Promise.race([accepted, exited]);
    const answers = answerReader(socket);
    const address = (await Promise.race([answers.next(8), exited])).readBigUInt64BE(0);
    peer = new PeerProcess(acceptedSocketFd(socket));

    const put = copiesMBps(seconds, sizeBytes, (k) => peer!.readInto(region.slot(k), address));
    const expected = Buffer.allocUnsafe(sizeBytes);
    fillPattern(expected, seed);
    if (!region.slot(0).equals(expected)) throw new Error(`CMA copies from the peer did not bring its bytes (${sizeBytes} B)`);

    const get = copiesMBps(seconds, sizeBytes, (k) => peer!.writeFrom(region.slot(k), address));
    fillPattern(region.slot(0), seed + 1);
    peer.writeFrom(region.slot(0), address);
    socket.write(Buffer.from([1]));
    const peerCrc = (await Promise.race([answers.next(4), exited])).readUInt32BE(0);
    if (peerCrc !== crc32c(region.slot(0))) throw new Error(`CMA copies into the peer did not land there (${sizeBytes} B)`);
    return { put, get };
  } finally {
    peer?.close();
    socket?.destroy();
    child?.kill();
    server.close();
    region.close();
  }
}

/** The peer's answers, read as fixed-size messages in order. */
function answerReader(socket: net.Socket): { next(bytes: number): Promise<Buffer> } {
  let pending = Buffer.alloc(0);
  let waiting: { bytes: number; resolve: (b: Buffer) => void } | undefined;
  const deliver = (): void => {
    if (!waiting || pending.length < waiting.bytes) return;
    const answer = pending.subarray(0, waiting.bytes);
    pending = pending.subarray(waiting.bytes);
    const { resolve } = waiting;
    waiting = undefined;
    resolve(answer);
  };
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    deliver();
  });
  return {
    next: (bytes) =>
      new Promise<Buffer>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the CMA peer did not answer within ${PEER_READY_MS_MAX} ms`)), PEER_READY_MS_MAX);
        waiting = {
          bytes,
          resolve: (b) => {
            clearTimeout(timer);
            resolve(b);
          },
        };
        deliver();
      }),
  };
}
