// What a fast-path client can do with what the broker granted it, tried as an
// attacker would against `rdmq start` in its own process: every request goes
// straight to the storage node's data service with grants taken from real
// broker replies and then misused or altered. Each attack is refused by the
// storage node with a clear error; the node stays up and every acknowledged
// record reads back intact.
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Transport } from '../addon';
import { ClusterProcess, startCluster } from '../bench/cluster';
import { buildRecordBatch, setBaseOffset } from '../format';
import { DataOp } from '../format/storage-data-wire';
import { decodeJson, decodeReplicaKeys, decodeStageReply, encodeJson, encodeStage, FastPathMessage, SubscribeReplyBody } from '../format/fastpath-wire';
import { Connection } from './connection';
import { Consumer } from './consumer';
import { DataLink, DataRefusedError } from './data-link';
import { Producer } from './producer';

const LEASE_TIMEOUT_MS = 800;

let cluster: ClusterProcess;
let connection: Connection;
beforeAll(async () => {
  cluster = await startCluster({ regionSize: '64M', segmentSize: '1M', leaseTimeoutMs: LEASE_TIMEOUT_MS });
  connection = await Connection.open({ control: cluster.control });
});
afterAll(async () => {
  await connection?.close();
  await cluster?.stop();
});

interface StagedGrant {
  segmentId: number;
  position: number;
  baseOffset: bigint;
  key: Buffer;
  address: string;
}

/** A raw shared-mode stage (no put, no commit): the grant the broker hands a producer. */
async function stage(topic: string, lengthBytes: number): Promise<StagedGrant> {
  const { topicId } = await connection.describeTopic(topic);
  const reply = await connection.request(FastPathMessage.STAGE, (reqId) => encodeStage({ reqId, topicId, partition: 0, lengthBytes, recordCount: 1 }));
  const grant = decodeStageReply(reply.header);
  if (grant.errorCode !== 0) throw new Error(reply.payload.toString());
  // Keys come once per segment and session; later stages in it reuse the known ones.
  const listed = reply.payload.length > 0 ? decodeReplicaKeys(reply.payload) : connection.segmentReplicaKeys(grant.segmentId, 'read-write');
  connection.segmentReplicas(grant.segmentId, 'read-write', listed);
  return { segmentId: grant.segmentId, position: grant.position, baseOffset: grant.baseOffset, key: listed[0].key, address: listed[0].address };
}

/** A raw subscribe: the read grants the broker hands a consumer, per segment. */
async function readGrants(topic: string): Promise<{ segmentId: number; commitPosition: number; dataCapacityBytes: number; key: Buffer; address: string }[]> {
  const reply = await connection.request(FastPathMessage.SUBSCRIBE, (reqId) => encodeJson(reqId, { topic, partition: 0, from: 'earliest' }));
  const { body } = decodeJson<SubscribeReplyBody>(reply.header, 'SUBSCRIBE_REPLY');
  if (!('segments' in body) || !body.segments) throw new Error(JSON.stringify(body));
  return body.segments.map((s) => ({ segmentId: s.segmentId, commitPosition: s.commitPosition, dataCapacityBytes: s.dataCapacityBytes, key: Buffer.from(s.replicas[0].key, 'base64'), address: s.replicas[0].address }));
}

async function produce(topic: string, values: string[], mode: 'shared' | 'exclusive' = 'shared'): Promise<void> {
  const producer = new Producer(connection, { mode });
  try {
    for (const value of values) await producer.send({ topic, messages: [{ value }] });
  } finally {
    await producer.disconnect();
  }
}

async function readValues(topic: string, count: number): Promise<string[]> {
  const reader = await Connection.open({ control: cluster.control });
  const consumer = new Consumer(reader);
  const seen: string[] = [];
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${seen.length} of ${count} records of ${topic}`)), 20_000);
      void consumer.run(
        {
          eachMessage: ({ message }) => {
            seen.push(message.value!.toString());
            if (seen.length === count) {
              clearTimeout(timer);
              setTimeout(resolve, 300); // anything more would be a record never acknowledged
            }
          },
        },
        reject,
      );
    });
  } finally {
    await consumer.stop();
    await reader.close();
  }
  return seen;
}

async function refusal(attempt: Promise<unknown>): Promise<DataRefusedError> {
  const err = await attempt.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof DataRefusedError)) throw new Error(`expected a refusal by the storage node, got ${err === undefined ? 'success' : String(err)}`);
  return err;
}

/** Flips the grant's field at `offset` (u64 little-endian) to `value`, as a forger would. */
function altered(key: Buffer, offset: number, value: bigint): Buffer {
  const forged = Buffer.from(key);
  forged.writeBigUInt64LE(value, offset);
  return forged;
}

async function expectNodeAliveAndIntact(topic: string, acknowledged: string[]): Promise<void> {
  expect(cluster.child.exitCode).toBeNull();
  expect(await readValues(topic, acknowledged.length)).toEqual(acknowledged);
}

// Each attack goes over TCP (another host's path) and over the Unix socket where
// the node copies with CMA (every size copied by address, or none), and is refused on each.
const LINKS = [
  { name: 'TCP', suffix: '', options: { local: false }, path: 'tcp' },
  { name: 'the Unix socket with CMA copies', suffix: '-cma', options: { cmaBytesMin: 1 }, path: 'unix-cma' },
  { name: 'the Unix socket carrying bytes', suffix: '-unix', options: { cmaBytesMin: Infinity }, path: 'unix-cma' },
] as const;

describe.each(LINKS)('over $name', (kind) => {
  async function openLink(address: string): Promise<DataLink> {
    const link = await DataLink.connect(address, kind.options);
    expect(link.path).toBe(kind.path);
    return link;
  }

  it('a read-only grant used for a write is refused, and so is the same grant with its access byte set to read-write', async () => {
    await connection.call('createTopic', { name: `victim-ro${kind.suffix}`, partitions: 1, configs: {} });
    const acknowledged = ['v0', 'v1', 'v2'];
    await produce(`victim-ro${kind.suffix}`, acknowledged);
    const [segment] = await readGrants(`victim-ro${kind.suffix}`);
    const link = await openLink(segment.address);
    try {
      const overwrite = Buffer.alloc(segment.commitPosition, 0x41);
      const denied = await refusal(link.put(segment.key, 0, overwrite));
      expect(denied.code).toBe('ACCESS_DENIED');
      expect(denied.message).toMatch(/read-only/);
      const promoted = Buffer.from(segment.key);
      promoted.writeUInt8(2, 4); // the access byte: 1 read, 2 read-write
      expect((await refusal(link.put(promoted, 0, overwrite))).code).toBe('GRANT_INVALID');
      // Past the commit line too: a read grant never writes anywhere.
      expect((await refusal(link.put(segment.key, segment.commitPosition, Buffer.alloc(64, 0x42)))).code).toBe('ACCESS_DENIED');
    } finally {
      await link.close();
    }
    await expectNodeAliveAndIntact(`victim-ro${kind.suffix}`, acknowledged);
  });

  it('a grant with a forged length, or used beyond its bounds, cannot read past its segment', async () => {
    await connection.call('createTopic', { name: `victim-bounds${kind.suffix}`, partitions: 1, configs: {} });
    await connection.call('createTopic', { name: `neighbour${kind.suffix}`, partitions: 1, configs: {} });
    const acknowledged = ['b0', 'b1'];
    await produce(`victim-bounds${kind.suffix}`, acknowledged);
    await produce(`neighbour${kind.suffix}`, ['secret']);
    const [segment] = await readGrants(`victim-bounds${kind.suffix}`);
    const link = await openLink(segment.address);
    try {
      const past = Buffer.alloc(segment.dataCapacityBytes + 4096);
      const beyond = await refusal(link.get(segment.key, 0, past));
      expect(beyond.code).toBe('ACCESS_DENIED');
      expect(beyond.message).toMatch(/outside the grant's bytes/);
      expect((await refusal(link.get(segment.key, segment.dataCapacityBytes - 8, Buffer.alloc(16)))).code).toBe('ACCESS_DENIED');
      // endPosition lives at bytes 24..31 of the grant.
      const extended = altered(segment.key, 24, BigInt(segment.dataCapacityBytes) * 64n);
      expect((await refusal(link.get(extended, 0, past))).code).toBe('GRANT_INVALID');
      // Within its bounds the genuine grant still reads.
      const head = Buffer.alloc(61);
      await link.get(segment.key, 0, head);
      expect(head.readUInt8(16)).toBe(2); // record batch v2 magic
    } finally {
      await link.close();
    }
    await expectNodeAliveAndIntact(`victim-bounds${kind.suffix}`, acknowledged);
  });

  it("a grant for one segment used on another segment is refused (the segment id is part of what the node signed)", async () => {
    await connection.call('createTopic', { name: `victim-other${kind.suffix}`, partitions: 1, configs: {} });
    await connection.call('createTopic', { name: `own${kind.suffix}`, partitions: 1, configs: {} });
    const acknowledged = ['o0', 'o1'];
    await produce(`victim-other${kind.suffix}`, acknowledged);
    const [victim] = await readGrants(`victim-other${kind.suffix}`);
    const own = await stage(`own${kind.suffix}`, 64);
    const link = await openLink(own.address);
    try {
      // segmentId lives at bytes 8..15 of the grant.
      const redirected = altered(own.key, 8, BigInt(victim.segmentId));
      expect((await refusal(link.put(redirected, victim.commitPosition, Buffer.alloc(64, 0x43)))).code).toBe('GRANT_INVALID');
      expect((await refusal(link.put(redirected, 0, Buffer.alloc(64, 0x43)))).code).toBe('GRANT_INVALID');
      // Random bytes of the right length are no better.
      expect((await refusal(link.put(Buffer.alloc(own.key.length, 7), 0, Buffer.alloc(8)))).code).toBe('GRANT_INVALID');
    } finally {
      await link.close();
    }
    await expectNodeAliveAndIntact(`victim-other${kind.suffix}`, acknowledged);
  });

  it('a write below the commit line is refused even with a genuine read-write grant of that very segment', async () => {
    await connection.call('createTopic', { name: `victim-committed${kind.suffix}`, partitions: 1, configs: {} });
    const acknowledged = ['c0', 'c1', 'c2'];
    await produce(`victim-committed${kind.suffix}`, acknowledged);
    const staged = await stage(`victim-committed${kind.suffix}`, 64);
    const link = await openLink(staged.address);
    try {
      const below = await refusal(link.put(staged.key, 0, Buffer.alloc(64, 0x44)));
      expect(below.code).toBe('GRANT_REVOKED');
      expect(below.message).toMatch(/below its commit line/);
    } finally {
      await link.close();
    }
    // The stage itself is left to its lease: the broker skips it.
    await expectNodeAliveAndIntact(`victim-committed${kind.suffix}`, acknowledged);
  });

  it("a producer's late put after the broker skipped its stage (lease ran out) is refused, and readers never see it", async () => {
    await connection.call('createTopic', { name: `late-put${kind.suffix}`, partitions: 1, configs: {} });
    await produce(`late-put${kind.suffix}`, ['before']);
    const batch = await buildRecordBatch({ records: [{ key: null, value: 'late' }] });
    const staged = await stage(`late-put${kind.suffix}`, batch.length);
    setBaseOffset(batch, 0, staged.baseOffset);
    // A later send is readable only once the broker skipped the stage before it.
    await produce(`late-put${kind.suffix}`, ['after']);
    expect(await readValues(`late-put${kind.suffix}`, 2)).toEqual(['before', 'after']);
    const link = await openLink(staged.address);
    try {
      const late = await refusal(link.put(staged.key, staged.position, batch));
      expect(late.code).toBe('GRANT_REVOKED');
      expect(late.message).toMatch(/skipped|commit line/);
    } finally {
      await link.close();
    }
    await expectNodeAliveAndIntact(`late-put${kind.suffix}`, ['before', 'after']);
  });

  it('writes into a sealed segment past its seal, and into a freed segment, are refused with the grants once given', async () => {
    await connection.call('createTopic', { name: `rolled${kind.suffix}`, partitions: 1, configs: {} });
    const first = await stage(`rolled${kind.suffix}`, 64);
    // Once the broker skipped that stage, the segment is fully committed, and
    // the storage node seals it when the partition rolls past it.
    await produce(`rolled${kind.suffix}`, ['small']);
    expect(await readValues(`rolled${kind.suffix}`, 1)).toEqual(['small']);
    const big = 'x'.repeat(200 * 1024);
    await produce(`rolled${kind.suffix}`, Array.from({ length: 6 }, () => big));
    const segments = await readGrants(`rolled${kind.suffix}`);
    expect(segments.length).toBeGreaterThan(1);
    const link = await openLink(first.address);
    try {
      const sealed = await refusal(link.put(first.key, segments[0].dataCapacityBytes - 64, Buffer.alloc(64, 0x45)));
      expect(sealed.code).toBe('GRANT_REVOKED');
      expect(sealed.message).toMatch(/sealed|commit line/);
      await connection.call('deleteTopic', { name: `rolled${kind.suffix}` });
      let freed: DataRefusedError | undefined;
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline) {
        freed = await refusal(link.get(first.key, 0, Buffer.alloc(16))).catch(() => undefined);
        if (freed?.code === 'GRANT_REVOKED') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(freed?.code).toBe('GRANT_REVOKED');
      expect(freed?.message).toMatch(/freed/);
      expect((await refusal(link.put(first.key, 1024, Buffer.alloc(64, 0x46)))).code).toBe('GRANT_REVOKED');
    } finally {
      await link.close();
    }
    expect(cluster.child.exitCode).toBeNull();
  });

  it('a grant this connection already used, with any one bit flipped, is refused; the genuine bytes keep working between', async () => {
    await connection.call('createTopic', { name: `bitflip${kind.suffix}`, partitions: 1, configs: {} });
    await produce(`bitflip${kind.suffix}`, ['f0']);
    const [segment] = await readGrants(`bitflip${kind.suffix}`);
    const link = await openLink(segment.address);
    const genuine = () => link.get(segment.key, 0, Buffer.alloc(64));
    try {
      await genuine();
      // All in flight at once on the one connection, each flipped grant between two genuine ones.
      const answers = await Promise.all(
        Array.from({ length: 56 * 8 }, (_, bit) => {
          const flipped = Buffer.from(segment.key);
          flipped[bit >> 3] ^= 1 << (bit & 7);
          return Promise.all([refusal(link.get(flipped, 0, Buffer.alloc(64))).then((e) => e.code), genuine().then(() => 'read')]);
        }),
      );
      expect(new Set(answers.map((a) => a.join(' ')))).toEqual(new Set(['GRANT_INVALID read']));
    } finally {
      await link.close();
    }
    await expectNodeAliveAndIntact(`bitflip${kind.suffix}`, ['f0']);
  });

  it('a frame the storage node cannot read closes only that connection', async () => {
    const [segment] = await readGrants(`victim-ro${kind.suffix}`);
    const bad = await openLink(segment.address);
    const closed = new Promise<string>((resolve) => bad.once('close', resolve));
    // A request header with an unknown op.
    (bad as unknown as { socket: { write(b: Buffer): void } }).socket.write(Buffer.alloc(24, 9));
    expect(await closed).toMatch(/closed/);
    await expectNodeAliveAndIntact(`victim-ro${kind.suffix}`, ['v0', 'v1', 'v2']);
  });
});

it("the storage node's process cannot be reached over UCX's tcp or cma transports, which do not check memory keys", async () => {
  const at = connection.cluster.fastpathAddress.lastIndexOf(':');
  const host = connection.cluster.fastpathAddress.slice(0, at);
  const port = Number(connection.cluster.fastpathAddress.slice(at + 1));
  // An attacker that offers UCX only tcp (in a process of its own: UCX reads its environment once per process)
  // cannot wire up an endpoint to the storage process at all.
  const attempt = spawnSync(process.execPath, ['-e', TCP_ONLY_ATTACKER, path.join(__dirname, '..', 'addon'), host, String(port)], {
    env: { ...process.env, UCX_TLS: 'tcp' },
    encoding: 'utf8',
    timeout: 20_000,
  });
  expect(attempt.stdout.trim()).toMatch(/^refused: /);
  // Whatever else a client offers, the lanes to the storage process are never tcp or cma.
  const any = new Transport();
  try {
    const ep = await any.connect(host, port);
    const lanes = ep.describe();
    expect(lanes).not.toMatch(/tcp\//);
    expect(lanes).not.toMatch(/cma\//);
    await ep.close();
  } finally {
    any.close();
  }
});

const TCP_ONLY_ATTACKER = `
const [addon, host, port] = process.argv.slice(1);
const t = new (require(addon).Transport)({ connectTimeoutMs: 5000 });
t.connect(host, Number(port)).then(
  (ep) => { console.log('connected: ' + ep.describe().replace(/\\n/g, ' ')); process.exit(0); },
  (err) => { console.log('refused: ' + err.message); process.exit(0); },
);`;

// Root may ptrace anything, so the storage node and the attacker run as one unprivileged user, as on a shared host.
const canDropPrivileges = process.getuid?.() === 0 && fs.existsSync('/usr/bin/setpriv') && fs.existsSync('/usr/bin/python3');
(canDropPrivileges ? it : it.skip)('a same-user process gets EPERM from process_vm_writev and process_vm_readv on the storage node (it is not dumpable)', async () => {
  const asNobody = ['/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
  const dataDir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'rdmq-grants-'));
  fs.chmodSync(dataDir, 0o777);
  const node = await startCluster({ dataDir, regionSize: '64M', segmentSize: '1M', prefix: asNobody });
  try {
    const script = [
      'import ctypes, sys',
      'libc = ctypes.CDLL(None, use_errno=True)',
      'class iovec(ctypes.Structure): _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]',
      'buf = ctypes.create_string_buffer(64)',
      'local = iovec(ctypes.cast(buf, ctypes.c_void_p), 64)',
      // Any address: the permission check comes before the address is looked at.
      'remote = iovec(ctypes.c_void_p(0x400000), 64)',
      'for fn in (libc.process_vm_writev, libc.process_vm_readv):',
      '    n = fn(int(sys.argv[1]), ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)',
      '    print(ctypes.get_errno() if n < 0 else 0)',
    ].join('\n');
    const run = spawnSync(asNobody[0], [...asNobody.slice(1), '/usr/bin/python3', '-c', script, String(node.child.pid)], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    const EPERM = 1;
    expect(run.stdout.trim().split('\n').map(Number)).toEqual([EPERM, EPERM]);
    expect(node.child.exitCode).toBeNull();
  } finally {
    await node.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

// A victim process of the node's own user holds a secret; an attacker on the
// Unix socket names the victim's buffer (and its pid, in the header's spare
// bytes) in copies by address. The node copies only with the process the
// kernel says connected: the victim is never read or written. The same
// requests naming the attacker's own buffer work (the requests are sound).
it("a copy by address naming another process's buffer or pid never touches that process (the node asks the kernel who connected)", async () => {
  await connection.call('createTopic', { name: 'deputy', partitions: 1, configs: {} });
  await produce('deputy', ['d'.repeat(8192)]);
  const [committed] = await readGrants('deputy');
  const victim = spawn(process.execPath, ['-e', VICTIM, path.join(__dirname, '..', 'addon')], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const victimLines = lines(victim.stdout!);
    const [victimPid, victimAddress, secretHex] = (await victimLines.next()).split(' ');
    const secret = Buffer.from(secretHex, 'hex');
    // The attacker is up and connected before the stages: their leases (LEASE_TIMEOUT_MS) must not run out first.
    const socketPath = path.join(cluster.dataDir, 'local-clients', 'data.sock');
    const attacker = spawn(process.execPath, ['-e', ATTACKER, path.join(__dirname, '..'), socketPath, victimPid, victimAddress], { stdio: ['pipe', 'pipe', 'inherit'] });
    const attackerLines = lines(attacker.stdout!);
    expect(await attackerLines.next()).toBe('connected');
    const own = await stage('deputy', 4096);
    const victims = await stage('deputy', 4096);
    const requests = [
      { op: DataOp.GET_CMA, key: committed.key, position: 0, address: 'victim' },
      { op: DataOp.PUT_CMA, key: victims.key, position: victims.position, address: 'victim' },
      { op: DataOp.GET_CMA, key: committed.key, position: 0, address: 'own' },
      { op: DataOp.PUT_CMA, key: own.key, position: own.position, address: 'own' },
      // Read back at once, on the same connection (before the stages' leases can run out): what landed where.
      { op: DataOp.GET_CMA, key: victims.key, position: victims.position, address: 'own' },
      { op: DataOp.GET_CMA, key: own.key, position: own.position, address: 'own' },
    ].map((r) => `${r.op}:${r.key.toString('hex')}:${r.position}:${r.address}`);
    attacker.stdin!.write(requests.join(' ') + '\n');
    const answers: Array<{ ok: boolean; code?: string; ownBytes?: string }> = [];
    for (let i = 0; i < requests.length; i++) answers.push(JSON.parse(await attackerLines.next()));
    attacker.kill('SIGKILL');
    expect(answers).toHaveLength(6);
    // Naming the victim: either refused (the address is not mapped in the attacker) or copied with the attacker itself.
    for (const a of answers.slice(0, 2)) if (!a.ok) expect(a.code).toBe('COPY_FAILED');
    // Naming its own buffer: the get brought the committed batch (magic 2), the put landed.
    expect(answers[2].ok).toBe(true);
    expect(Buffer.from(answers[2].ownBytes!, 'hex').readUInt8(16)).toBe(2);
    expect(answers[3].ok).toBe(true);
    // The victim's buffer is as it was, and its secret reached the region nowhere.
    victim.stdin!.write('check\n');
    expect(await victimLines.next()).toBe('intact');
    expect(answers[4].ok).toBe(true);
    expect(Buffer.from(answers[4].ownBytes!, 'hex').includes(secret)).toBe(false);
    expect(answers[5].ok).toBe(true);
    expect(Buffer.from(answers[5].ownBytes!, 'hex').equals(Buffer.alloc(4096, 0x61))).toBe(true);
  } finally {
    victim.kill('SIGKILL');
  }
  expect(cluster.child.exitCode).toBeNull();
});

it('a copy by address asked over TCP is refused: only the Unix socket names its peer, by the kernel', async () => {
  await connection.call('createTopic', { name: 'deputy-tcp', partitions: 1, configs: {} });
  const staged = await stage('deputy-tcp', 4096);
  const link = await DataLink.connect(staged.address, { local: false });
  try {
    const ask = (op: number) =>
      (link as unknown as { request(r: object): Promise<void> }).request({ op, grant: staged.key, position: staged.position, lengthBytes: 4096, local: null, copied: Buffer.alloc(4096), clientAddress: 0x1000n });
    for (const op of [DataOp.PUT_CMA, DataOp.GET_CMA, DataOp.CMA_PROBE]) {
      const refused = await refusal(ask(op));
      expect(refused.code).toBe('INVALID_ARGUMENT');
      expect(refused.message).toMatch(/only on the Unix socket/);
    }
  } finally {
    await link.close();
  }
  expect(cluster.child.exitCode).toBeNull();
});

/** Reads a stream line by line. */
function lines(stream: NodeJS.ReadableStream): { next(): Promise<string> } {
  let buffered = '';
  const waiting: Array<(line: string) => void> = [];
  const ready: string[] = [];
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    let at;
    while ((at = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, at);
      buffered = buffered.slice(at + 1);
      const w = waiting.shift();
      if (w) w(line);
      else ready.push(line);
    }
  });
  return { next: () => (ready.length > 0 ? Promise.resolve(ready.shift()!) : new Promise((resolve) => waiting.push(resolve))) };
}

// Holds 4 KiB of a secret pattern; prints its pid, the buffer's address and the secret; answers "check" with whether it is unchanged.
const VICTIM = `
const { bufferAddress } = require(process.argv[1]);
const secret = require('crypto').randomBytes(16);
const held = Buffer.allocUnsafeSlow(4096);
for (let i = 0; i < 4096; i += 16) secret.copy(held, i);
const copy = Buffer.from(held);
console.log(process.pid + ' ' + bufferAddress(held) + ' ' + secret.toString('hex'));
process.stdin.on('data', () => console.log(held.equals(copy) ? 'intact' : 'changed'));
`;

// Connects to the Unix socket; then sends each request "op:grantHex:position:victim|own" (one stdin line) for 4096 bytes and prints one JSON answer per request.
const ATTACKER = `
const [root, socketPath, victimPid, victimAddress] = process.argv.slice(1);
const wire = require(root + '/format/storage-data-wire');
const { bufferAddress } = require(root + '/addon');
const net = require('net');
const own = [0, 1, 2, 3, 4, 5].map(() => Buffer.allocUnsafeSlow(4096).fill(0x61));
const socket = net.connect(socketPath, () => console.log('connected'));
process.stdin.once('data', (line) => {
  line.toString().trim().split(' ').forEach((r, i) => {
    const [op, grantHex, position, whose] = r.split(':');
    const address = whose === 'victim' ? BigInt(victimAddress) : bufferAddress(own[i]);
    if (Number(op) === wire.DataOp.GET_CMA) own[i].fill(0);
    const request = wire.encodeDataRequest(Number(op), i + 1, Buffer.from(grantHex, 'hex'), Number(position), 4096, address);
    request.writeUInt32LE(Number(victimPid), 20); // a pid where a field could hold one: ignored
    socket.write(request);
  });
});
let pending = Buffer.alloc(0);
socket.on('data', (chunk) => {
  pending = Buffer.concat([pending, chunk]);
  while (pending.length >= wire.DATA_RESPONSE_HEADER_BYTES) {
    const h = wire.decodeDataResponseHeader(pending);
    if (pending.length < wire.DATA_RESPONSE_HEADER_BYTES + h.bodyBytes) return;
    const body = pending.subarray(wire.DATA_RESPONSE_HEADER_BYTES, wire.DATA_RESPONSE_HEADER_BYTES + h.bodyBytes);
    pending = pending.subarray(wire.DATA_RESPONSE_HEADER_BYTES + h.bodyBytes);
    const i = h.reqId - 1;
    console.log(JSON.stringify(h.failed ? { ok: false, code: body.subarray(0, h.codeBytes).toString(), message: body.subarray(h.codeBytes).toString() } : { ok: true, ownBytes: own[i].toString('hex') }));
  }
});
`;

it('a link closed while the node may still be copying into its buffer settles that get only with the node: the bytes land, then the link ends', async () => {
  await connection.call('createTopic', { name: 'closing', partitions: 1, configs: {} });
  await produce('closing', ['c'.repeat(900 * 1024)]);
  const [segment] = await readGrants('closing');
  const link = await DataLink.connect(segment.address);
  expect(link.path).toBe('unix-cma');
  const landing = Buffer.alloc(segment.commitPosition);
  // Large enough to be copied on the node's thread pool.
  expect(landing.length).toBeGreaterThan(256 * 1024);
  const got = link.get(segment.key, 0, landing);
  await link.close();
  expect(link.closed).toBe(true);
  await got;
  expect(landing.readUInt8(16)).toBe(2);
  expect(landing.includes(Buffer.alloc(1024, 'c'))).toBe(true);
});
