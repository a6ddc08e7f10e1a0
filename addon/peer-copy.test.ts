// PeerProcess names the process at the other end of an accepted Unix socket
// from the kernel's record (SO_PEERCRED, SO_PEERPIDFD) and copies only with
// it: while it lives, both ways; once it is gone, never again (its pid may
// name another process by then).
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { AddonError, PeerProcess } from './index';

// Connects to the socket, then prints its pid, the address of a buffer it holds and that buffer's bytes; stays until killed.
const PEER = `
const { bufferAddress } = require(process.argv[1]);
const held = Buffer.allocUnsafeSlow(3 << 20);
for (let i = 0; i < held.length; i++) held[i] = i % 251;
require('net').connect(process.argv[2], () => console.log(process.pid + ' ' + bufferAddress(held)));
process.stdin.on('data', () => console.log(held.subarray(0, 16).toString('hex') + ' ' + held.subarray(held.length - 16).toString('hex')));
`;

function fdOf(socket: net.Socket): number {
  return (socket as unknown as { _handle: { fd: number } })._handle.fd;
}

function nextLine(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      const at = text.indexOf('\n');
      if (at < 0) return;
      stream.off('data', onData);
      resolve(text.slice(0, at));
    };
    stream.on('data', onData);
  });
}

it('copies with the process that connected while it lives, and refuses once it is gone', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rdmq-peer-'));
  const socketPath = path.join(dir, 's.sock');
  const accepted = new Promise<net.Socket>((resolve) => {
    const server = net.createServer((s) => {
      server.close();
      resolve(s);
    });
    server.listen(socketPath);
  });
  const child = spawn(process.execPath, ['-e', PEER, __dirname, socketPath], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const [pid, address] = (await nextLine(child.stdout!)).split(' ');
    const socket = await accepted;
    const peer = new PeerProcess(fdOf(socket));
    expect(peer.pid).toBe(Number(pid));
    expect(peer.uid).toBe(process.getuid!());
    const length = 3 << 20;
    const expected = Buffer.alloc(length);
    for (let i = 0; i < length; i++) expected[i] = i % 251;
    // Read from it, then write into it (on the thread pool, in parts) and read back what it holds.
    const read = Buffer.alloc(length);
    peer.readInto(read, BigInt(address));
    expect(read.equals(expected)).toBe(true);
    // A length and an offset that are no multiple of a page land byte for byte, on the pool too.
    const odd = Buffer.alloc(length - 12345);
    await peer.readIntoAsync(odd, BigInt(address) + 7n, new Int32Array(new SharedArrayBuffer(4)), 0);
    expect(odd.equals(expected.subarray(7, 7 + odd.length))).toBe(true);
    await peer.writeFromAsync(Buffer.alloc(length, 0x5a), BigInt(address));
    child.stdin!.write('show\n');
    expect(await nextLine(child.stdout!)).toBe(`${'5a'.repeat(16)} ${'5a'.repeat(16)}`);
    peer.writeFrom(expected.subarray(0, 4096), BigInt(address));
    peer.readInto(read.subarray(0, 4096), BigInt(address));
    expect(read.subarray(0, 4096).equals(expected.subarray(0, 4096))).toBe(true);
    // An address the peer has not mapped is a refusal, not a crash.
    expect(() => peer.readInto(Buffer.alloc(16), 0x10n)).toThrow(expect.objectContaining({ code: 'ERR_COPY_FAULT' }));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    const gone = (attempt: () => unknown) => {
      try {
        attempt();
      } catch (err) {
        return (err as AddonError).code;
      }
      return 'copied';
    };
    const landing = Buffer.alloc(64, 7);
    expect(gone(() => peer.readInto(landing, BigInt(address)))).toBe('ERR_PEER_GONE');
    expect(landing.equals(Buffer.alloc(64, 7)) || landing.equals(Buffer.alloc(64))).toBe(true);
    expect(gone(() => peer.writeFrom(landing, BigInt(address)))).toBe('ERR_PEER_GONE');
    await expect(peer.writeFromAsync(landing, BigInt(address))).rejects.toMatchObject({ code: 'ERR_PEER_GONE' });
    peer.close();
    socket.destroy();
  } finally {
    child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

it('a TCP socket names no process', async () => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const socket = await accepted;
  try {
    expect(() => new PeerProcess(fdOf(socket))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
  } finally {
    client.destroy();
    socket.destroy();
    server.close();
  }
});
