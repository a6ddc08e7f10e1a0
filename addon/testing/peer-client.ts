// The client side of addon/testing/peer.ts, usable in-process or from a child.
import { spawn, ChildProcess } from 'child_process';
import * as path from 'path';
import * as readline from 'readline';
import { Access, Endpoint, RemoteKey, Transport } from '..';
import { PeerMessage } from './peer';

export interface RunningPeer {
  child: ChildProcess;
  port: number;
  stop(): Promise<void>;
}

/** Starts peer.js in its own process with the given extra environment. */
/** Starts the peer process; `wrap` is a command to run it under (e.g. unshare). */
export async function startPeer(regionPath: string, sizeBytes: number, env: NodeJS.ProcessEnv = {}, wrap: string[] = []): Promise<RunningPeer> {
  const command = [...wrap, process.execPath, path.join(__dirname, 'peer.js'), regionPath, String(sizeBytes)];
  const child = spawn(command[0], command.slice(1), {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = readline.createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    lines.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`peer exited with ${code} before listening`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    port,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Waits for the next message with `id` on the transport. */
export function nextMessage(transport: Transport, id: number): Promise<Buffer> {
  return new Promise((resolve) => transport.onMessage(id, (_ep, _header, payload) => resolve(payload)));
}

/** Asks the peer to register a range of its region; resolves to the packed key. */
export async function requestPackedKey(transport: Transport, ep: Endpoint, offset: number, length: number, access: Access): Promise<Buffer> {
  const reply = nextMessage(transport, PeerMessage.KEY_REPLY);
  await ep.send(PeerMessage.KEY, Buffer.from(JSON.stringify({ offset, length, access })));
  return reply;
}

export async function requestKey(transport: Transport, ep: Endpoint, offset: number, length: number, access: Access): Promise<RemoteKey> {
  return ep.importKey(await requestPackedKey(transport, ep, offset, length, access));
}

export async function readOnPeer(transport: Transport, ep: Endpoint, offset: number, length: number): Promise<Buffer> {
  const reply = nextMessage(transport, PeerMessage.READ_REPLY);
  await ep.send(PeerMessage.READ, Buffer.from(JSON.stringify({ offset, length })));
  return reply;
}
