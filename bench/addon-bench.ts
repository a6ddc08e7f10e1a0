// npm run bench:addon [-- --json FILE] [--sizes 8K,64K,1M,8M] [--seconds 1]
//
// UCX put and get bandwidth between this process and a peer process, next to
// single-thread memcpy into the same region (the peer's region file, mapped
// here too), all measured in this run. Back of the envelope: a put over
// shared memory/CMA is one kernel-mediated copy (process_vm_writev), so
// memcpy is its ceiling; over TCP it is two copies plus the socket stack.
import * as fs from 'fs';
import * as path from 'path';
import { Endpoint, Region, RemoteKey, Transport } from '../addon';
import { requestKey, startPeer } from '../addon/testing/peer-client';
import { formatSize, parseSize, renderTable } from './sizes';

interface Point {
  size: number;
  putMBps: number;
  getMBps: number;
  memcpyMBps: number;
}

const REGION_BYTES = 64 << 20;
const IN_FLIGHT = 8;

function parseArgs(argv: string[]): { json?: string; sizes: number[]; seconds: number } {
  const out: { json?: string; sizes: number[]; seconds: number } = { sizes: ['8K', '64K', '1M', '8M'].map(parseSize), seconds: 1 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--json' && value) out.json = argv[++i];
    else if (flag === '--sizes' && value) out.sizes = argv[++i].split(',').map(parseSize);
    else if (flag === '--seconds' && value) out.seconds = Number(argv[++i]);
    else throw new Error(`unknown or incomplete option ${flag}; allowed: --json FILE, --sizes LIST, --seconds N`);
  }
  for (const size of out.sizes) if (size > REGION_BYTES) throw new Error(`size ${formatSize(size)} exceeds the ${formatSize(REGION_BYTES)} region`);
  return out;
}

/** Runs `op` back to back with IN_FLIGHT outstanding for about `seconds`; returns MB/s. */
async function measure(size: number, seconds: number, op: (offset: number) => Promise<void>, finish: () => Promise<void>): Promise<number> {
  const slots = Math.max(1, Math.floor(REGION_BYTES / size));
  let issued = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  const lane = async (): Promise<void> => {
    while (process.hrtime.bigint() < deadline) {
      const slot = issued++ % slots;
      await op(slot * size);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  await finish();
  const elapsedS = Number(process.hrtime.bigint() - start) / 1e9;
  return (issued * size) / elapsedS / 1e6;
}

function measureMemcpy(region: Region, size: number, seconds: number): number {
  const source = Buffer.alloc(size, 0x5a);
  const slots = Math.max(1, Math.floor(REGION_BYTES / size));
  const view = region.bytes(0, REGION_BYTES);
  let copies = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  while (process.hrtime.bigint() < deadline) {
    source.copy(view, (copies++ % slots) * size);
  }
  return (copies * size) / (Number(process.hrtime.bigint() - start) / 1e9) / 1e6;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const dir = fs.mkdtempSync('/dev/shm/rdmq-bench-addon-');
  const regionPath = path.join(dir, 'region');
  const peer = await startPeer(regionPath, REGION_BYTES);
  const transport = new Transport();
  let ep: Endpoint | undefined;
  let key: RemoteKey | undefined;
  const points: Point[] = [];
  try {
    ep = await transport.connect('127.0.0.1', peer.port);
    key = await requestKey(transport, ep, 0, REGION_BYTES, 'read-write');
    const local = Region.open(regionPath);
    const lanes = ep.describe().match(/\d+:\w+\/[\w.:]+/g) ?? [];
    process.stderr.write(`UCX ${lanes.join(', ')}\n`);
    for (const size of args.sizes) {
      process.stderr.write(`measuring ${formatSize(size)} ...\n`);
      const source = Buffer.alloc(size, 0xa5);
      const sink = Buffer.alloc(size);
      const putMBps = await measure(size, args.seconds, (off) => ep!.put(source, key!, off), () => ep!.flush());
      const getMBps = await measure(size, args.seconds, (off) => ep!.get(sink, key!, off), async () => undefined);
      const memcpyMBps = measureMemcpy(local, size, args.seconds);
      points.push({ size, putMBps, getMBps, memcpyMBps });
    }
    local.close();
  } finally {
    key?.destroy();
    await ep?.close();
    transport.close();
    await peer.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const rows = points.map((p) => [formatSize(p.size), p.putMBps, p.getMBps, p.memcpyMBps, `${((p.putMBps / p.memcpyMBps) * 100).toFixed(0)}%`, `${((p.getMBps / p.memcpyMBps) * 100).toFixed(0)}%`]);
  process.stdout.write(renderTable(['size', 'put MB/s', 'get MB/s', 'memcpy MB/s', 'put/memcpy', 'get/memcpy'], rows) + '\n');
  if (args.json) fs.writeFileSync(args.json, JSON.stringify(points, null, 2) + '\n');
}

main().catch((err) => {
  process.stderr.write(`bench:addon failed: ${(err as Error).message}\n`);
  process.exit(1);
});
