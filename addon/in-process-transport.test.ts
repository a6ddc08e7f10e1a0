// Transport.connect with `inProcess`: a transport of this process listening
// at the address is reached without UCX, with the same message semantics
// (order, copies, the receiver's size limit, closing together).
import * as os from 'os';
import { AddonError, Endpoint, Transport } from '.';

const MESSAGE = 7;
const REPLY = 8;

interface Received {
  ep: Endpoint;
  header: Buffer;
  payload: Buffer;
}

/** A listening transport that records what it receives and echoes MESSAGE back as REPLY. */
async function listeningServer(host = '127.0.0.1'): Promise<{ server: Transport; port: number; received: Received[]; accepted: Endpoint[] }> {
  const server = new Transport({ maxAmPayloadBytes: 64 * 1024 });
  const received: Received[] = [];
  const accepted: Endpoint[] = [];
  server.on('connection', (ep: Endpoint) => accepted.push(ep));
  server.onMessage(MESSAGE, (ep, header, payload) => {
    received.push({ ep, header, payload });
    void ep.send(REPLY, header, payload);
  });
  const port = await server.listen(host, 0);
  return { server, port, received, accepted };
}

function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      if (check()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setImmediate(poll);
    };
    poll();
  });
}

describe('in-process endpoints', () => {
  const open: Transport[] = [];
  afterEach(() => {
    for (const t of open.splice(0)) t.close();
  });

  it('carry messages both ways in order, as copies, with the connection ids the peer proves membership with, and no UCX endpoint', async () => {
    const { server, port, received, accepted } = await listeningServer();
    const client = new Transport();
    open.push(server, client);
    const replies: Buffer[] = [];
    client.onMessage(REPLY, (_ep, header) => replies.push(header));
    const ucxBefore = client.stats().endpoints + server.stats().endpoints;

    const ep = await client.connect('127.0.0.1', port, { inProcess: true });
    expect(ep.inProcess).toBe(true);
    expect(ep.describe()).toMatch(/in-process/);
    expect(accepted).toHaveLength(1);
    expect([accepted[0].localId, accepted[0].remoteId]).toEqual([ep.remoteId, ep.localId]);
    expect(accepted[0].remoteAddress).toBe('127.0.0.1:0');

    const header = Buffer.alloc(4);
    for (let i = 0; i < 100; i++) {
      header.writeUInt32LE(i, 0);
      await ep.send(MESSAGE, header, Buffer.from(`payload ${i}`));
    }
    header.fill(0xff); // the sender reuses its buffer once a send resolves: the receiver must have its own bytes
    await until(() => replies.length === 100, '100 replies');
    expect(received.map((r) => r.header.readUInt32LE(0))).toEqual([...Array(100).keys()]);
    expect(received.map((r) => r.payload.toString())).toEqual([...Array(100).keys()].map((i) => `payload ${i}`));
    expect(received.every((r) => r.ep === accepted[0])).toBe(true);
    expect(replies.map((h) => h.readUInt32LE(0))).toEqual([...Array(100).keys()]);
    expect(client.stats().endpoints + server.stats().endpoints).toBe(ucxBefore);
    expect(client.stats().connections).toBe(1);
    expect(server.stats().connections).toBe(1);
  });

  it('refuse what the peer would refuse over UCX, and what needs UCX', async () => {
    const { server, port } = await listeningServer();
    const client = new Transport();
    open.push(server, client);
    const ep = await client.connect('127.0.0.1', port, { inProcess: true });
    const refused = await ep.send(MESSAGE, Buffer.alloc(4), Buffer.alloc(64 * 1024 + 1)).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AddonError);
    expect((refused as AddonError).code).toBe('ERR_MESSAGE_TOO_LARGE');
    await expect(ep.get(Buffer.alloc(8), {} as never, 0)).rejects.toThrow(/in-process and carries messages only/);
    expect(() => ep.importKey(Buffer.alloc(8))).toThrow(/in-process and carries messages only/);
    await expect(ep.flush()).resolves.toBeUndefined();
  });

  it('close together: either end closing, or either transport, ends the other with a reason, and later sends fail', async () => {
    const { server, port, accepted } = await listeningServer();
    const client = new Transport();
    open.push(server, client);

    const first = await client.connect('127.0.0.1', port, { inProcess: true });
    const reasons: string[] = [];
    first.once('close', (r: string) => reasons.push(`client: ${r}`));
    accepted[0].once('close', (r: string) => reasons.push(`server: ${r}`));
    await accepted[0].close();
    expect(first.closed).toBe(true);
    expect(reasons).toEqual(['server: closed locally', expect.stringMatching(/^client: the peer in this process closed its end/)]);
    await expect(first.send(MESSAGE, Buffer.alloc(1))).rejects.toMatchObject({ code: 'ERR_PEER_UNREACHABLE' });

    const second = await client.connect('127.0.0.1', port, { inProcess: true });
    server.close();
    expect(second.closed).toBe(true);
    expect(accepted[1].closed).toBe(true);
    expect(client.stats().connections).toBe(0);
    // The listener is gone: a connect now fails as it would to any closed port.
    await expect(client.connect('127.0.0.1', port, { inProcess: true })).rejects.toMatchObject({ code: 'ERR_PEER_UNREACHABLE' });
  });

  it('drop what a closed end had not yet handled', async () => {
    const { server, port, received, accepted } = await listeningServer();
    const client = new Transport();
    open.push(server, client);
    const ep = await client.connect('127.0.0.1', port, { inProcess: true });
    await ep.send(MESSAGE, Buffer.from('late'));
    await accepted[0].close(); // before the immediate that would hand the message over
    await new Promise((resolve) => setImmediate(resolve));
    expect(received).toHaveLength(0);
  });

  it('are used only when asked, and only for an address of this machine that reaches the listener', async () => {
    const wildcard = await listeningServer('0.0.0.0');
    const client = new Transport();
    open.push(wildcard.server, client);
    // Not asked: UCX, as before.
    const overUcx = await client.connect('127.0.0.1', wildcard.port);
    expect(overUcx.inProcess).toBe(false);
    // A wildcard listener is reached through loopback and through this machine's own addresses.
    expect((await client.connect('127.0.0.1', wildcard.port, { inProcess: true })).inProcess).toBe(true);
    expect((await client.connect('localhost', wildcard.port, { inProcess: true })).inProcess).toBe(true);
    const own = Object.values(os.networkInterfaces()).flatMap((a) => a ?? []).find((a) => a.family === 'IPv4' && !a.internal);
    if (own) expect((await client.connect(own.address, wildcard.port, { inProcess: true })).inProcess).toBe(true);

    // A listener bound to loopback only is not what a connect to another address reaches, even on the same port.
    const loopback = await listeningServer('127.0.0.1');
    open.push(loopback.server);
    if (own) {
      const elsewhere = await client.connect(own.address, loopback.port, { inProcess: true }).catch((e: unknown) => e);
      expect(elsewhere).toBeInstanceOf(AddonError);
      expect((elsewhere as AddonError).code).toBe('ERR_PEER_UNREACHABLE');
    }
    expect(loopback.accepted).toHaveLength(0);
  });
});
