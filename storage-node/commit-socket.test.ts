// The commit socket (commit-socket.ts): the broker's checked commits to a
// storage node without gRPC, with the commit stream's guarantees — only a
// proven member commits (its proof bound to this connection's challenge),
// each message is fenced by the leader epoch, a refused range is never
// committed, a frame that does not parse commits nothing — and the gRPC
// stream carrying the commits whenever the socket cannot.
import { spawnSync } from 'child_process';
import * as net from 'net';
import { randomBytes } from 'crypto';
import { configureControlPlane, proveMembership } from '../control-plane';
import { SegmentStore, startStorageGrpcServer, StorageClient, StorageError, StorageGrpcServer } from '.';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { COMMIT_FRAME, CommitSocket, commitSocketMethod, encodeCommitMessage, frame } from './commit-socket';
import { freeLoopbackPort, startRole } from '../bench/cluster';
import { makeCertificates } from '../cli/testing/stranger';
import { buildTestBatch } from './testing/batches';
import { closeTestNode, openTestNode } from './testing/grpc-node';
import { putIntoSegment } from './testing/regions';
import { expectRollStepsInOneMessage } from './testing/roll-steps';
import { storageRefusal } from './testing/refusal';

const MiB = 1024 * 1024;
const secret = randomBytes(32);

let regionPath: string;
let store: SegmentStore;
let server: StorageGrpcServer;
let client: StorageClient;

beforeAll(() => configureControlPlane({ clusterSecret: secret }));

beforeEach(async () => {
  ({ path: regionPath, store, server, client } = await openTestNode({ segmentSizeBytes: 256 * 1024, commitSocket: true }));
});

afterEach(() => closeTestNode({ path: regionPath, store, server, client }));

const put = (segmentId: number, position: number, bytes: Buffer): void => putIntoSegment(store, segmentId, position, bytes);

function checkOf(position: number, lengthBytes: number, baseOffset: bigint, recordCount: number) {
  return { position, lengthBytes, expected: { baseOffset, recordCount }, where: 'test' };
}

const rejection = storageRefusal;

/** A raw connection to the commit socket: its challenge, the frames it is sent, and when it closed. */
async function rawConnection(): Promise<{ socket: net.Socket; challenge: Buffer; frames: { type: number; payload: Buffer }[]; closed: Promise<void> }> {
  const socket = net.connect({ host: '127.0.0.1', port: server.commitPort });
  const frames: { type: number; payload: Buffer }[] = [];
  let buffered = Buffer.alloc(0);
  let gotChallenge: (challenge: Buffer) => void = () => undefined;
  const challenge = new Promise<Buffer>((resolve) => (gotChallenge = resolve));
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 4 && buffered.length >= 4 + buffered.readUInt32LE(0)) {
      const length = buffered.readUInt32LE(0);
      const f = { type: buffered[4], payload: buffered.subarray(5, 4 + length) };
      buffered = buffered.subarray(4 + length);
      frames.push(f);
      if (f.type === COMMIT_FRAME.challenge) gotChallenge(f.payload);
    }
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  return { socket, challenge: await challenge, frames, closed };
}

function hello(proof: string | undefined, epoch?: string): Buffer {
  return frame(COMMIT_FRAME.hello, Buffer.from(JSON.stringify({ proof, epoch })));
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(condition()).toBe(true);
}

/**
 * A member's message committing one 200-byte batch, its payload changed by
 * `spoil` before it is sent: the node refuses it with `reason`, closes the
 * connection, and commits nothing.
 */
async function expectSpoiledCommitRefused(spoil: (payload: Buffer) => void, reason: RegExp): Promise<void> {
  const id = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n }).segmentId;
  put(id, 0, buildTestBatch({ baseOffset: 0n, recordCount: 1, sizeBytes: 200 }));
  const payload = Buffer.from(encodeCommitMessage(1, [{ segmentId: id, step: { commit: { commitPosition: 200, endOffset: 1n, maxTimestamp: 0n } } }]).subarray(5));
  spoil(payload);
  const member = await rawConnection();
  member.socket.write(Buffer.concat([hello(proveMembership(secret, commitSocketMethod(member.challenge))), frame(COMMIT_FRAME.commit, payload)]));
  await member.closed;
  expect(member.frames.map((f) => f.type)).toEqual([COMMIT_FRAME.challenge, COMMIT_FRAME.ready, COMMIT_FRAME.refused]);
  expect(JSON.parse(member.frames[2].payload.toString())).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(reason) });
  expect(store.get(id).commitPosition).toBe(0);
}

describe('the storage node commit socket', () => {
  it('carries checked commits of several segments in one message once proven; bytes that fail their check are not committed, the others are', async () => {
    expect(await client.connectCommitSocket()).toBe(true);
    const [good, corrupt, wrongOffset, wrongCount] = [0, 1, 2, 3].map((partition) => store.allocate({ topicId: 1, partition, baseOffset: 0n }).segmentId);
    put(good, 0, buildTestBatch({ baseOffset: 0n, recordCount: 2, sizeBytes: 400 }));
    const bad = buildTestBatch({ baseOffset: 0n, recordCount: 2, sizeBytes: 400 });
    bad[300] ^= 0xff;
    put(corrupt, 0, bad);
    put(wrongOffset, 0, buildTestBatch({ baseOffset: 5n, recordCount: 2, sizeBytes: 400 }));
    put(wrongCount, 0, buildTestBatch({ baseOffset: 0n, recordCount: 2, sizeBytes: 400 }));
    const commit = { commitPosition: 400, endOffset: 2n, maxTimestamp: 9n };
    const outcomes = await Promise.allSettled([
      client.commitStep(good, { check: checkOf(0, 400, 0n, 2), commit }),
      client.commitStep(corrupt, { check: checkOf(0, 400, 0n, 2), commit }),
      client.commitStep(wrongOffset, { check: checkOf(0, 400, 0n, 2), commit }),
      client.commitStep(wrongCount, { check: checkOf(0, 400, 0n, 3), commit }),
    ]);
    expect(outcomes[0]).toMatchObject({ status: 'fulfilled', value: { segmentId: good, commitPosition: 400, endOffset: 2n, maxTimestamp: 9n, topicId: 1, partition: 0 } });
    const reasons = outcomes.slice(1).map((o) => (o.status === 'rejected' ? (o.reason as StorageError) : undefined));
    expect(reasons.map((r) => r?.code)).toEqual(['INVALID_BATCH', 'INVALID_BATCH', 'INVALID_BATCH']);
    expect(reasons[0]?.message).toMatch(/CRC32C/);
    expect(reasons[1]?.message).toMatch(/base offset 5, the broker assigned 0/);
    expect(reasons[2]?.message).toMatch(/2 records were written, 3 were staged/);
    for (const id of [corrupt, wrongOffset, wrongCount]) expect(store.get(id).commitPosition).toBe(0);
    expect(store.get(good)).toMatchObject({ commitPosition: 400, endOffset: 2n });
    // The reply carries the whole segment, as the node holds it.
    expect((outcomes[0] as PromiseFulfilledResult<unknown>).value).toEqual(store.get(good));
    expect(client.commitStreamStats()).toEqual({ messages: 1, entries: 4, streams: 0, sockets: 1, via: 'socket' });
  });

  it('hands the broker a reply larger than one read whole: a thousand checked commits of one segment in one message, each answered with its segment', async () => {
    expect(await client.connectCommitSocket()).toBe(true);
    const id = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n }).segmentId;
    const batchBytes = 128;
    const count = 1000;
    for (let i = 0; i < count; i++) put(id, i * batchBytes, buildTestBatch({ baseOffset: BigInt(i), recordCount: 1, sizeBytes: batchBytes }));
    // Submitted in one turn: one message; its reply (~98 KB) arrives in more than one read of the broker's buffer.
    const replies = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        client.commitStep(id, { check: checkOf(i * batchBytes, batchBytes, BigInt(i), 1), commit: { commitPosition: (i + 1) * batchBytes, endOffset: BigInt(i + 1), maxTimestamp: BigInt(i) } }),
      ),
    );
    replies.forEach((segment, i) => expect(segment).toMatchObject({ segmentId: id, commitPosition: (i + 1) * batchBytes, endOffset: BigInt(i + 1), maxTimestamp: BigInt(i), topicId: 1, partition: 0 }));
    expect(store.get(id)).toMatchObject({ commitPosition: count * batchBytes, endOffset: BigInt(count) });
    expect(client.commitStreamStats()).toEqual({ messages: 1, entries: count, streams: 0, sockets: 1, via: 'socket' });
  });

  it('allocates, seals and grants segments in the messages that carry commits, each step answered with its segment, its grant or the node\'s refusal', async () => {
    const granting = await openTestNode({ segmentSizeBytes: 256 * 1024, commitSocket: true, withNode: true });
    try {
      // As a broker meets a node: Info first, which offers the roll steps.
      await granting.client.info();
      expect(await granting.client.connectCommitSocket()).toBe(true);
      await expectRollStepsInOneMessage(granting.store, granting.node!, granting.client, 'socket');
    } finally {
      await closeTestNode(granting);
    }
  });

  it('beside a storage node older than roll steps (its Info does not offer them), allocates, seals and gets grants by the unary calls', async () => {
    const older = await openTestNode({ segmentSizeBytes: 256 * 1024, commitSocket: true, withNode: true, infoWithoutRollSteps: true });
    try {
      await older.client.info();
      expect(await older.client.connectCommitSocket()).toBe(true);
      const before = older.client.commitStreamStats();
      const segment = await older.client.allocate({ topicId: 1, partition: 0, baseOffset: 5n });
      expect(segment).toEqual(older.store.get(segment.segmentId));
      expect(older.node!.writableRange(await older.client.segmentKey(segment.segmentId, 'read-write'), 0, 100).length).toBe(100);
      expect(await older.client.seal(segment.segmentId, { finalPosition: 0 })).toMatchObject({ segmentId: segment.segmentId, sealed: true });
      // None of them went over the commit socket.
      expect(older.client.commitStreamStats()).toEqual(before);
    } finally {
      await closeTestNode(older);
    }
  });

  it('refuses a step it does not know rather than read its fields as the next step, and closes that connection', async () => {
    // The step's flags byte, after the sequence and the count: a step kind from a newer broker.
    await expectSpoiledCommitRefused((payload) => (payload[8] |= 0x80), /unknown flags/);
  });

  it('refuses the largest batch past max.message.bytes and a checked commit that does not continue the commit line', async () => {
    expect(await client.connectCommitSocket()).toBe(true);
    const id = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n }).segmentId;
    put(id, 0, buildTestBatch({ baseOffset: 0n, recordCount: 1, sizeBytes: 400 }));
    const tooLarge = await rejection(
      client.commitStep(id, { check: { ...checkOf(0, 400, 0n, 1), expected: { baseOffset: 0n, recordCount: 1, batchBytesMax: 300 } }, commit: { commitPosition: 400, endOffset: 1n, maxTimestamp: 0n } }),
    );
    expect(tooLarge.code).toBe('INVALID_BATCH');
    const gap = await rejection(client.commitStep(id, { check: checkOf(200, 200, 0n, 1), commit: { commitPosition: 400, endOffset: 1n, maxTimestamp: 0n } }));
    expect(gap.code).toBe('INVALID_POSITION');
    expect(store.get(id).commitPosition).toBe(0);
    expect(client.commitStreamStats().via).toBe('socket');
  });

  it('refuses a connection without the proof, with a proof of another secret or a proof made for another connection, and commits nothing for it', async () => {
    const id = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n }).segmentId;
    put(id, 0, buildTestBatch({ baseOffset: 0n, recordCount: 1, sizeBytes: 200 }));
    const commitFrame = encodeCommitMessage(1, [{ segmentId: id, step: { commit: { commitPosition: 200, endOffset: 1n, maxTimestamp: 0n } } }]);
    const other = await rawConnection();
    const proofs = [undefined, proveMembership(randomBytes(32), commitSocketMethod(other.challenge)), proveMembership(secret, commitSocketMethod(other.challenge))];
    for (const proof of proofs) {
      const stranger = await rawConnection();
      // The commit right behind the hello: nothing may run before the proof held.
      stranger.socket.write(Buffer.concat([hello(proof), commitFrame]));
      await stranger.closed;
      expect(stranger.frames.map((f) => f.type)).toEqual([COMMIT_FRAME.challenge, COMMIT_FRAME.refused]);
      expect(JSON.parse(stranger.frames[1].payload.toString())).toMatchObject({ code: 'ACCESS_DENIED', message: expect.stringMatching(/members of the cluster only/) });
    }
    other.socket.destroy();
    // Nor may a stranger make the node buffer a large frame before its proof.
    const hoarder = await rawConnection();
    const big = Buffer.alloc(5);
    big.writeUInt32LE(8 * MiB, 0);
    big[4] = COMMIT_FRAME.hello;
    hoarder.socket.write(big);
    await hoarder.closed;
    expect(JSON.parse(hoarder.frames[1].payload.toString())).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/at most 4096/) });
    expect(store.get(id).commitPosition).toBe(0);
    // A member's proof for its own connection's challenge is accepted.
    const member = await rawConnection();
    member.socket.write(Buffer.concat([hello(proveMembership(secret, commitSocketMethod(member.challenge))), commitFrame]));
    await until(() => member.frames.some((f) => f.type === COMMIT_FRAME.reply));
    expect(member.frames.map((f) => f.type)).toEqual([COMMIT_FRAME.challenge, COMMIT_FRAME.ready, COMMIT_FRAME.reply]);
    expect(store.get(id).commitPosition).toBe(200);
    member.socket.destroy();
  });

  it('commits nothing of a message that does not parse, and closes that connection', async () => {
    // The same message, saying it holds two steps: the first is valid, the second missing.
    await expectSpoiledCommitRefused((payload) => payload.writeUInt32LE(2, 4), /ends early/);
  });

  it('refuses FENCED the commits of a socket opened under an older leader epoch once a newer leader claimed the node', async () => {
    const address = `127.0.0.1:${server.port}`;
    const oldLeader = new StorageClient(address, { leaderEpoch: 7n, commitPort: server.commitPort });
    const newLeader = new StorageClient(address, { leaderEpoch: 9n });
    try {
      expect(await oldLeader.connectCommitSocket()).toBe(true);
      const id = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n }).segmentId;
      put(id, 0, buildTestBatch({ baseOffset: 0n, recordCount: 1, sizeBytes: 200 }));
      put(id, 200, buildTestBatch({ baseOffset: 1n, recordCount: 1, sizeBytes: 200 }));
      expect((await oldLeader.commitStep(id, { check: checkOf(0, 200, 0n, 1), commit: { commitPosition: 200, endOffset: 1n, maxTimestamp: 0n } }))?.commitPosition).toBe(200);
      expect(oldLeader.commitStreamStats().via).toBe('socket');
      await newLeader.describe();
      const refused = await rejection(oldLeader.commitStep(id, { check: checkOf(200, 200, 1n, 1), commit: { commitPosition: 400, endOffset: 2n, maxTimestamp: 0n } }));
      expect(refused.code).toBe('FENCED');
      expect(store.get(id).commitPosition).toBe(200);
      // Nor may it allocate, seal, or get a grant to hand a client.
      const segments = store.describe().length;
      expect((await rejection(oldLeader.allocate({ topicId: 1, partition: 1, baseOffset: 0n }))).code).toBe('FENCED');
      expect((await rejection(oldLeader.seal(id, { finalPosition: 200 }))).code).toBe('FENCED');
      expect((await rejection(oldLeader.segmentKey(id, 'read'))).code).toBe('FENCED');
      expect(store.describe().length).toBe(segments);
      expect(store.get(id).sealed).toBe(false);
      expect(oldLeader.commitStreamStats()).toMatchObject({ streams: 0, sockets: 1 });
    } finally {
      oldLeader.close();
      newLeader.close();
    }
  });

  it('keeps committing over the gRPC stream when the socket cannot be reached, and fails commits in flight UNAVAILABLE when the node goes away', async () => {
    const id = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n }).segmentId;
    for (let i = 0; i < 3; i++) put(id, i * 200, buildTestBatch({ baseOffset: BigInt(i), recordCount: 1, sizeBytes: 200 }));
    expect(await client.connectCommitSocket()).toBe(true);
    expect((await client.commitStep(id, { check: checkOf(0, 200, 0n, 1), commit: { commitPosition: 200, endOffset: 1n, maxTimestamp: 0n } }))?.commitPosition).toBe(200);
    expect(client.commitStreamStats().via).toBe('socket');
    // The node restarts: its gRPC port stays, its commit socket moves; the client still knows the old one.
    const port = server.port;
    await server.close();
    const refused = await rejection(client.commitStep(id, { check: checkOf(200, 200, 1n, 1), commit: { commitPosition: 400, endOffset: 2n, maxTimestamp: 0n } }));
    expect(refused.code).toBe('UNAVAILABLE');
    expect(store.get(id).commitPosition).toBe(200);
    server = await startStorageGrpcServer(store, { host: '127.0.0.1', port });
    let committed;
    for (let attempt = 0; attempt < 100 && !committed; attempt++) {
      committed = await client.commitStep(id, { check: checkOf(200, 200, 1n, 1), commit: { commitPosition: 400, endOffset: 2n, maxTimestamp: 0n } }).catch(async (err: StorageError) => {
        expect(err.code).toBe('UNAVAILABLE');
        await new Promise((resolve) => setTimeout(resolve, 50));
        return undefined;
      });
    }
    expect(committed?.commitPosition).toBe(400);
    expect(client.commitStreamStats()).toMatchObject({ via: 'stream', streams: 1 });
  });

  it('on the node\'s host, serves the same steps on a Unix socket only this user may reach, and a broker there refuses a socket of another node process', async () => {
    const localDir = path.join(fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'rdmq-commit-')), 'local');
    const local = await startStorageGrpcServer(store, { host: '127.0.0.1', port: 0, localDir });
    try {
      expect(local.commitSocketPath).toBe(path.join(localDir, 'commit.sock'));
      expect(fs.statSync(localDir).mode & 0o777).toBe(0o700);
      const place = { path: local.commitSocketPath, host: '127.0.0.1', port: local.commitPort };
      const stranger = await rejection(CommitSocket.open({ ...place, bootId: 'another-boot' }, 2000));
      expect(stranger).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(/another storage node process/) });
      const socket = await CommitSocket.open({ ...place, bootId: local.bootId }, 2000);
      const id = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n }).segmentId;
      put(id, 0, buildTestBatch({ baseOffset: 0n, recordCount: 1, sizeBytes: 200 }));
      const reply = new Promise<unknown>((resolve, reject) => socket.attach((_sequence, results) => resolve(results), reject));
      socket.write(1, [{ segmentId: id, step: { check: checkOf(0, 200, 0n, 1), commit: { commitPosition: 200, endOffset: 1n, maxTimestamp: 0n } } }]);
      expect(await reply).toEqual([{ segment: store.get(id) }]);
      expect(store.get(id).commitPosition).toBe(200);
      socket.close();
    } finally {
      await local.close();
      fs.rmSync(path.dirname(localDir), { recursive: true, force: true });
    }
  });

  it('speaks TLS when the control plane does: a member commits, a plaintext connection gets no challenge and commits nothing', async () => {
    const dir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'rdmq-commit-tls-'));
    const certs = makeCertificates(path.join(dir, 'pki'));
    configureControlPlane({ clusterSecret: secret, tls: { ca: certs.ca, cert: fs.readFileSync(certs.certFile), key: fs.readFileSync(certs.keyFile) } });
    let tlsServer: StorageGrpcServer | undefined;
    let tlsClient: StorageClient | undefined;
    try {
      tlsServer = await startStorageGrpcServer(store, { host: '127.0.0.1', port: 0 });
      const id = store.allocate({ topicId: 1, partition: 0, baseOffset: 0n }).segmentId;
      put(id, 0, buildTestBatch({ baseOffset: 0n, recordCount: 1, sizeBytes: 200 }));
      put(id, 200, buildTestBatch({ baseOffset: 1n, recordCount: 1, sizeBytes: 200 }));
      const plain = net.connect({ host: '127.0.0.1', port: tlsServer.commitPort });
      const heard: Buffer[] = [];
      plain.on('data', (chunk: Buffer) => heard.push(chunk));
      plain.on('error', () => undefined);
      const plainClosed = new Promise<void>((resolve) => plain.on('close', () => resolve()));
      plain.write(Buffer.concat([hello(proveMembership(secret, commitSocketMethod(Buffer.alloc(32)))), encodeCommitMessage(1, [{ segmentId: id, step: { commit: { commitPosition: 400, endOffset: 2n, maxTimestamp: 0n } } }])]));
      await plainClosed;
      // Whatever a TLS server answers to plaintext, it is no challenge frame and nothing was committed.
      expect(Buffer.concat(heard).subarray(4, 5)).not.toEqual(Buffer.from([COMMIT_FRAME.challenge]));
      expect(store.get(id).commitPosition).toBe(0);
      tlsClient = new StorageClient(`127.0.0.1:${tlsServer.port}`, { commitPort: tlsServer.commitPort });
      expect(await tlsClient.connectCommitSocket()).toBe(true);
      expect((await tlsClient.commitStep(id, { check: checkOf(0, 200, 0n, 1), commit: { commitPosition: 200, endOffset: 1n, maxTimestamp: 0n } }))?.commitPosition).toBe(200);
      expect(tlsClient.commitStreamStats()).toMatchObject({ via: 'socket', streams: 0 });
    } finally {
      tlsClient?.close();
      await tlsServer?.close();
      configureControlPlane({ clusterSecret: secret });
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rdmq storage --commit-port listens there and challenges every connection; other roles refuse the flag', async () => {
    const dataDir = fs.mkdtempSync(path.join('/dev/shm', 'rdmq-commit-port-'));
    const commitPort = await freeLoopbackPort();
    const main = path.join(__dirname, '..', 'cli', 'main.js');
    const storage = await startRole([main, 'storage', '--data', dataDir, '--control', '127.0.0.1:0', '--fastpath', '127.0.0.1:0', '--metrics', '127.0.0.1:0', '--region-size', '16M', '--segment-size', '1M', '--commit-port', String(commitPort)]);
    try {
      const socket = net.connect(commitPort, '127.0.0.1');
      const first = await new Promise<Buffer>((resolve, reject) => {
        socket.once('data', resolve);
        socket.once('error', reject);
      });
      socket.destroy();
      expect(first.readUInt8(4)).toBe(COMMIT_FRAME.challenge);
    } finally {
      await storage.signal('SIGTERM');
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
    const broker = spawnSync(process.execPath, [main, 'broker', '--storage', '127.0.0.1:1', '--commit-port', String(commitPort)], { encoding: 'utf8' });
    expect(broker.status).toBe(2);
    expect(broker.stderr).toMatch(/--commit-port is an option of rdmq storage/);
  }, 30_000);
});
