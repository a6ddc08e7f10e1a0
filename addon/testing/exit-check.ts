// Uses every part of the addon once and then exits, either after closing
// everything ("tidy") or with everything still open ("abrupt"), which leaves
// the cleanup to the addon's environment hooks. A hang or crash at exit shows
// up as a timeout, a signal or a non-zero exit code in the parent test.
import * as fs from 'fs';
import * as path from 'path';
import { crc32c, Region, Transport } from '..';

async function main(mode: string): Promise<void> {
  const dir = fs.mkdtempSync('/dev/shm/rdmq-exit-');
  const region = Region.create(path.join(dir, 'region'), 256 * 1024);
  const server = new Transport();
  const port = await server.listen('127.0.0.1', 0);
  const reg = server.register(region, 0, 256 * 1024, 'read-write');
  const got = new Promise<void>((resolve) => server.onMessage(7, () => resolve()));
  const client = new Transport();
  const ep = await client.connect('127.0.0.1', port);
  const key = ep.importKey(reg.packedKey());
  const data = Buffer.alloc(64 * 1024, 9);
  await ep.put(data, key, 0);
  await ep.flush();
  const back = Buffer.alloc(data.length);
  await ep.get(back, key, 0);
  if (crc32c(back) !== crc32c(data)) throw new Error('read back different bytes');
  await ep.send(7, Buffer.from('bye'));
  await got;
  fs.rmSync(dir, { recursive: true, force: true });
  if (mode === 'abrupt') process.exit(0);
  key.destroy();
  await ep.close();
  client.close();
  server.close();
  region.close();
}

main(process.argv[2] ?? 'tidy').catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
