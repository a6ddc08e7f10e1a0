import * as fs from 'fs';
import * as path from 'path';
import { AddonError, Endpoint, Region, Transport } from '.';
import { readOnPeer, requestKey, requestPackedKey, RunningPeer, startPeer } from './testing/peer-client';

const REGION_BYTES = 4 << 20;

const madeDirs: string[] = [];
afterAll(() => {
  for (const dir of madeDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tempRegionPath(): string {
  const made = fs.mkdtempSync('/dev/shm/rdmq-transport-');
  madeDirs.push(made);
  return path.join(made, 'region');
}

async function expectRejectCode(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AddonError);
  expect((err as AddonError).code).toBe(code);
  if (message) expect((err as AddonError).message).toMatch(message);
}

function expectThrowCode(fn: () => unknown, code: string, message?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(AddonError);
  expect((caught as AddonError).code).toBe(code);
  if (message) expect((caught as AddonError).message).toMatch(message);
}

// UCX reads UCX_TLS when a context is created, so each case sets it for both
// processes: the peer through its environment, this process before `new Transport`.
// (These are the addon's primitives; rdmq's storage node uses one-sided put and
// get only over verbs, see storage-node/verbs-registrations.ts.)
describe.each([
  ['UCX over shared memory and CMA', 'sm,cma', /cma\/memory/, /tcp\//],
  ['UCX over TCP', 'tcp', /tcp\//, /cma\/memory|sysv|posix/],
])('put, flush and get between two processes: %s', (_name, tls, mustUse, mustNotUse) => {
  let peer: RunningPeer;
  let transport: Transport;
  let ep: Endpoint;
  const saved = { tls: process.env.UCX_TLS };

  beforeAll(async () => {
    peer = await startPeer(tempRegionPath(), REGION_BYTES, { UCX_TLS: tls });
    process.env.UCX_TLS = tls;
    transport = new Transport();
    ep = await transport.connect('127.0.0.1', peer.port);
  });

  afterAll(async () => {
    if (saved.tls === undefined) delete process.env.UCX_TLS;
    else process.env.UCX_TLS = saved.tls;
    await ep.close();
    transport.close();
    await peer.stop();
  });

  it('uses the forced transport', () => {
    const lanes = ep.describe();
    expect(lanes).toMatch(mustUse);
    expect(lanes).not.toMatch(mustNotUse);
  });

  it('writes bytes the peer sees and reads them back', async () => {
    const key = await requestKey(transport, ep, 65536, 1 << 20, 'read-write');
    const data = Buffer.alloc(700_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 0xff;
    await ep.put(data, key, 4096);
    await ep.flush();
    expect(Buffer.compare(await readOnPeer(transport, ep, 65536 + 4096, data.length), data)).toBe(0);
    const back = Buffer.alloc(data.length);
    await ep.get(back, key, 4096);
    expect(Buffer.compare(back, data)).toBe(0);
    key.destroy();
  });

  it('rejects a put or get outside the registered range before UCX sees it', async () => {
    const key = await requestKey(transport, ep, 0, 8192, 'read-write');
    await expectRejectCode(ep.put(Buffer.alloc(16), key, 8190), 'ERR_OUT_OF_RANGE', /outside the registered range of 8192 bytes/);
    await expectRejectCode(ep.get(Buffer.alloc(8193), key, 0), 'ERR_OUT_OF_RANGE');
    await expectRejectCode(ep.put(Buffer.alloc(1), key, -1), 'ERR_INVALID_ARG');
    key.destroy();
    await expectRejectCode(ep.put(Buffer.alloc(1), key, 0), 'ERR_BAD_REMOTE_KEY', /destroyed/);
  });
});

describe('transport misuse', () => {
  it('refuses a put through a read-only key', async () => {
    const transport = new Transport();
    const ep = await transport.connect('127.0.0.1', peer.port);
    const key = await requestKey(transport, ep, 0, 8192, 'read');
    await expectRejectCode(ep.put(Buffer.alloc(16), key, 0), 'ERR_ACCESS_DENIED', /read-only/);
    const back = Buffer.alloc(16);
    await ep.get(back, key, 0);
    await ep.close();
    transport.close();
  });

  let peer: RunningPeer;
  beforeAll(async () => {
    peer = await startPeer(tempRegionPath(), REGION_BYTES);
  });
  afterAll(async () => {
    await peer.stop();
  });

  it('rejects remote keys that are not keys', async () => {
    const transport = new Transport();
    const ep = await transport.connect('127.0.0.1', peer.port);
    expectThrowCode(() => ep.importKey(Buffer.from('not a key at all, clearly')), 'ERR_BAD_REMOTE_KEY', /not an rdmq remote key/);
    expectThrowCode(() => ep.importKey(Buffer.alloc(3)), 'ERR_BAD_REMOTE_KEY');
    const packed = await requestPackedKey(transport, ep, 0, 4096, 'read');
    expectThrowCode(() => ep.importKey(packed.subarray(0, packed.length - 1)), 'ERR_BAD_REMOTE_KEY', /truncated/);
    const wrongVersion = Buffer.from(packed);
    wrongVersion.writeUInt32LE(99, 4);
    expectThrowCode(() => ep.importKey(wrongVersion), 'ERR_BAD_REMOTE_KEY', /version 99/);
    await ep.close();
    transport.close();
  });

  it('rejects every operation on a closed endpoint', async () => {
    const transport = new Transport();
    const ep = await transport.connect('127.0.0.1', peer.port);
    const key = await requestKey(transport, ep, 0, 4096, 'read-write');
    await ep.close();
    expect(ep.closed).toBe(true);
    await expectRejectCode(ep.put(Buffer.alloc(1), key, 0), 'ERR_ENDPOINT_CLOSED', /is closed/);
    await expectRejectCode(ep.get(Buffer.alloc(1), key, 0), 'ERR_ENDPOINT_CLOSED');
    await expectRejectCode(ep.flush(), 'ERR_ENDPOINT_CLOSED');
    await expectRejectCode(ep.send(1, Buffer.alloc(0)), 'ERR_ENDPOINT_CLOSED');
    expectThrowCode(() => ep.importKey(Buffer.alloc(40)), 'ERR_ENDPOINT_CLOSED');
    await ep.close(); // idempotent
    transport.close();
  });

  it('fails to connect to a port nobody listens on with a clear error', async () => {
    const transport = new Transport();
    const probe = new Transport();
    const port = await probe.listen('127.0.0.1', 0);
    probe.close();
    await expectRejectCode(transport.connect('127.0.0.1', port), 'ERR_PEER_UNREACHABLE', /cannot connect to 127.0.0.1/);
    transport.close();
  });

  it('reports a peer that dies as a closed endpoint with the reason', async () => {
    const victim = await startPeer(tempRegionPath(), REGION_BYTES);
    const transport = new Transport();
    const ep = await transport.connect('127.0.0.1', victim.port);
    const closed = new Promise<string>((resolve) => ep.once('close', resolve));
    victim.child.kill('SIGKILL');
    expect(await closed).toMatch(/closed|lost/);
    await expectRejectCode(ep.flush(), 'ERR_PEER_UNREACHABLE', /is gone/);
    transport.close();
    await victim.stop();
  });

  it('settles everything in flight to a peer that dies, and then sits idle', async () => {
    const victim = await startPeer(tempRegionPath(), REGION_BYTES);
    const transport = new Transport();
    const ep = await transport.connect('127.0.0.1', victim.port);
    const key = await requestKey(transport, ep, 0, 1 << 20, 'read-write');
    const closed = new Promise<string>((resolve) => ep.once('close', resolve));
    victim.child.kill('SIGKILL');
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) inFlight.push(ep.put(Buffer.alloc(1 << 20, i), key, 0).catch(() => undefined));
    inFlight.push(ep.flush().catch(() => undefined));
    await closed;
    const settled = await Promise.race([Promise.all(inFlight).then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
    expect(settled).toBe(true);
    expect(transport.stats().outstandingOps).toBe(0);
    transport.close();
    await victim.stop();
  });

  it('rejects registration of a closed region and use of a closed transport', async () => {
    const transport = new Transport();
    const region = Region.create(tempRegionPath(), 65536);
    expectThrowCode(() => transport.register(region, 0, 65537, 'read'), 'ERR_OUT_OF_RANGE');
    expectThrowCode(() => transport.register(region, 0, 4096, 'write' as never), 'ERR_INVALID_ARG');
    region.close();
    expectThrowCode(() => transport.register(region, 0, 4096, 'read'), 'ERR_REGION_CLOSED');
    transport.close();
    await expectRejectCode(transport.connect('127.0.0.1', peer.port), 'ERR_TRANSPORT_CLOSED');
    expectThrowCode(() => transport.onMessage(300, () => undefined), 'ERR_INVALID_ARG', /0\.\.255/);
  });

  it('rejects an active message larger than the configured limit', async () => {
    const transport = new Transport({ maxAmPayloadBytes: 1024 });
    const ep = await transport.connect('127.0.0.1', peer.port);
    await expectRejectCode(ep.send(1, Buffer.alloc(0), Buffer.alloc(1025)), 'ERR_MESSAGE_TOO_LARGE', /1025 bytes exceeds the limit of 1024/);
    await ep.close();
    transport.close();
  });
});

describe('active messages over the receiver\'s limit', () => {
  it('are refused at once by the sender, naming the peer\'s limit, instead of dropped by the receiver unanswered', async () => {
    const server = new Transport({ maxAmPayloadBytes: 4096 });
    const port = await server.listen('127.0.0.1', 0);
    const received: number[] = [];
    server.onMessage(7, (_ep, _header, payload) => void received.push(payload.length));
    const client = new Transport();
    const ep = await client.connect('127.0.0.1', port);
    expect(ep.peerMaxAmPayloadBytes).toBe(4096);
    const started = Date.now();
    await expectRejectCode(ep.send(7, Buffer.alloc(8), Buffer.alloc(5000)), 'ERR_MESSAGE_TOO_LARGE', /5000 bytes exceeds the limit of 4096 bytes that 127\.0\.0\.1:\d+ accepts/);
    // A header too long to travel inline is carried in front of the payload, and counts.
    await expectRejectCode(ep.send(7, Buffer.alloc(3000), Buffer.alloc(2000)), 'ERR_MESSAGE_TOO_LARGE', /5000 bytes/);
    expect(Date.now() - started).toBeLessThan(1000);
    await ep.send(7, Buffer.alloc(8), Buffer.alloc(4096));
    const deadline = Date.now() + 5000;
    while (received.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(received).toEqual([4096]);
    await ep.close();
    client.close();
    server.close();
  });
});

describe('active messages with long headers', () => {
  it('carries a header longer than a UCX fragment intact instead of aborting the process', async () => {
    const server = new Transport();
    const port = await server.listen('127.0.0.1', 0);
    const received = new Promise<{ header: Buffer; payload: Buffer }>((resolve) => server.onMessage(9, (_ep, header, payload) => resolve({ header, payload })));
    const client = new Transport();
    const ep = await client.connect('127.0.0.1', port);
    const header = Buffer.alloc(50_000, 7);
    const payload = Buffer.alloc(100_000, 8);
    await ep.send(9, header, payload);
    const got = await received;
    expect(Buffer.compare(got.header, header)).toBe(0);
    expect(Buffer.compare(got.payload, payload)).toBe(0);
    await ep.close();
    client.close();
    server.close();
  });
});

describe('puts and gets within one process', () => {
  it('copies into and out of this process\'s own open region, faulted in or not, and honours read-only keys', async () => {
    const server = new Transport();
    const port = await server.listen('127.0.0.1', 0);
    const regionPath = tempRegionPath();
    const region = Region.create(regionPath, REGION_BYTES);
    const writable = server.register(region, 65536, 2 << 20, 'read-write');
    const readable = server.register(region, 65536, 2 << 20, 'read');
    const client = new Transport();
    const ep = await client.connect('127.0.0.1', port);
    const key = ep.importKey(writable.packedKey());
    const readKey = ep.importKey(readable.packedKey());
    // Through UCX like any peer's (no copy by address: nothing here trusts a key's
    // address); pages not yet in memory and faulted-in pages alike.
    const check = async (size: number): Promise<void> => {
      const data = Buffer.alloc(size);
      for (let i = 0; i < size; i++) data[i] = (i * 13 + size) & 0xff;
      await ep.put(data, key, 4096);
      await ep.flush();
      expect(Buffer.compare(region.bytes(65536 + 4096, size), data)).toBe(0);
      const back = Buffer.alloc(size);
      await ep.get(back, readKey, 4096);
      expect(Buffer.compare(back, data)).toBe(0);
    };
    for (const size of [1000, 1_100_000]) await check(size);
    region.prefault(0, REGION_BYTES);
    for (const size of [1001, 1_100_001]) await check(size);
    await expectRejectCode(ep.put(Buffer.alloc(16), readKey, 0), 'ERR_ACCESS_DENIED', /read-only/);
    await expectRejectCode(ep.put(Buffer.alloc(16), key, (2 << 20) - 8), 'ERR_OUT_OF_RANGE');
    key.destroy();
    readKey.destroy();
    await ep.close();
    client.close();
    writable.deregister();
    readable.deregister();
    server.close();
    region.close();
    fs.rmSync(path.dirname(regionPath), { recursive: true, force: true });
  });
});
