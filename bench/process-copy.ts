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
// `sizeBytes`; puts and gets cycle through the slots of a prefaulted region
// on /dev/shm, as the memcpy limit does, for about `seconds` each. Each
// direction is checked once afterwards (the bytes that arrived are the bytes
// sent), so a copy that silently did nothing cannot pass for a fast one.
import { fork } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { acceptedSocketFd, crc32c, PeerProcess, Region } from '../addon';

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
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const dir = fs.mkdtempSync(path.join(base, 'rdmq-cma-'));
  const regionBytes = Math.max(64 << 20, sizeBytes);
  const region = Region.create(path.join(dir, 'region'), regionBytes);
  const server = net.createServer();
  let child: ReturnType<typeof fork> | undefined;
  let peer: PeerProcess | undefined;
  let socket: net.Socket | undefined;
  try {
    region.prefault(0, regionBytes);
    const view = region.bytes(0, regionBytes);
    const socketPath = path.join(dir, 'peer.sock');
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socketPath, resolve));
    const seed = 1 + Math.floor(Math.random() * 250);
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    child = fork(path.join(__dirname, 'process-copy-peer.js'), [socketPath, String(sizeBytes), String(seed)], { stdio: 'inherit' });
    const exited = new Promise<never>((_, reject) => child!.once('exit', (code) => reject(new Error(`the CMA peer exited (${code}) before the copies ended`))));
    socket = await Promise.race([accepted, exited]);
    const answers = answerReader(socket);
    const address = (await Promise.race([answers.next(8), exited])).readBigUInt64BE(0);
    peer = new PeerProcess(acceptedSocketFd(socket));
    const slots = Math.max(1, Math.floor(regionBytes / sizeBytes));
    const slot = (k: number): Buffer => view.subarray((k % slots) * sizeBytes, (k % slots) * sizeBytes + sizeBytes);

    const put = timedCopies(seconds, sizeBytes, (k) => peer!.readInto(slot(k), address));
    const expected = Buffer.allocUnsafe(sizeBytes);
    fillPattern(expected, seed);
    if (!slot(0).equals(expected)) throw new Error(`CMA copies from the peer did not bring its bytes (${sizeBytes} B)`);

    const get = timedCopies(seconds, sizeBytes, (k) => peer!.writeFrom(slot(k), address));
    fillPattern(slot(0), seed + 1);
    peer.writeFrom(slot(0), address);
    socket.write(Buffer.from([1]));
    const peerCrc = (await Promise.race([answers.next(4), exited])).readUInt32BE(0);
    if (peerCrc !== crc32c(slot(0))) throw new Error(`CMA copies into the peer did not land there (${sizeBytes} B)`);
    return { put, get };
  } finally {
    peer?.close();
    socket?.destroy();
    child?.kill();
    server.close();
    region.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** MB/s of `copy(k)` for k = 0, 1, ... for about `seconds`, each moving `sizeBytes`. */
function timedCopies(seconds: number, sizeBytes: number, copy: (k: number) => void): number {
  let copies = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  while (process.hrtime.bigint() < deadline) copy(copies++);
  return (copies * sizeBytes) / (Number(process.hrtime.bigint() - start) / 1e9) / 1e6;
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
