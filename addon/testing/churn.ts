// Opens and closes regions and endpoints many times and reports RSS, so a
// test can check that nothing grows per iteration. Prints one JSON line.
// The first 6 × `iterations` rounds are a warm-up: UCX's memory pools and the
// allocator's arenas grow in steps to their working size and never shrink
// (no endpoint, operation or registration is left behind — Transport.stats()
// says so); the next `iterations` rounds are the measured ones. Since puts go
// through UCX's own shared-memory path (no CMA copy of rdmq's: issue 12), RSS
// levels off later: +5–8% over rounds 6,000–7,000, +3.5% over 12,000–14,000.
import * as fs from 'fs';
import * as path from 'path';
import { Region, Transport } from '..';

async function main(): Promise<void> {
  const iterations = Number(process.argv[2] ?? 1000);
  const warmup = 6 * iterations;
  const dir = fs.mkdtempSync('/dev/shm/rdmq-churn-');
  const server = new Transport();
  const port = await server.listen('127.0.0.1', 0);
  const client = new Transport();
  const gc = (global as { gc?: () => void }).gc ?? (() => undefined);
  let rssAfterWarmup = 0;
  // One long-lived endpoint carries the puts: importing keys on short-lived
  // endpoints over UCX 1.13's shared-memory transports leaks inside UCX
  // (~50 KB each), so rdmq clients keep one endpoint per peer.
  const dataEp = await client.connect('127.0.0.1', port);
  for (let i = 0; i < warmup + iterations; i++) {
    const region = Region.create(path.join(dir, 'region'), 1 << 20);
    region.bytes(0, 4096).fill(i & 0xff);
    const reg = server.register(region, 0, 1 << 20, 'read-write');
    const key = dataEp.importKey(reg.packedKey());
    await dataEp.put(Buffer.alloc(512, 1), key, 0);
    await dataEp.flush();
    key.destroy();
    reg.deregister();
    region.close();
    const ep = await client.connect('127.0.0.1', port);
    await ep.send(1, Buffer.from('ping'));
    await ep.flush();
    await ep.close();
    if (i === warmup - 1) {
      gc();
      rssAfterWarmup = process.memoryUsage().rss;
    }
  }
  // Let the accepted side notice the closed sockets before measuring.
  await new Promise((resolve) => setTimeout(resolve, 200));
  gc();
  const rssAtEnd = process.memoryUsage().rss;
  await dataEp.close();
  client.close();
  server.close();
  fs.rmSync(dir, { recursive: true, force: true });
  process.stdout.write(JSON.stringify({ iterations, rssAfterWarmup, rssAtEnd }) + '\n');
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
