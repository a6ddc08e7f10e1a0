// A second OS process for addon tests and the addon benchmark. It maps a
// region, listens, and serves these active messages:
//   KEY    {offset, length, access} -> KEY_REPLY carrying a packed remote key
//   READ   {offset, length}         -> READ_REPLY carrying the bytes it sees
//   EXIT                             -> closes everything and exits 0
// It prints one JSON line {"port": N} on stdout once it is listening.
import { Access, Region, Transport } from '..';

export const PeerMessage = { KEY: 1, KEY_REPLY: 2, READ: 3, READ_REPLY: 4, EXIT: 5 } as const;

async function serve(regionPath: string, sizeBytes: number): Promise<void> {
  const region = Region.create(regionPath, sizeBytes);
  region.prefault(0, sizeBytes);
  const transport = new Transport();
  transport.onMessage(PeerMessage.KEY, (ep, header) => {
    const req = JSON.parse(header.toString()) as { offset: number; length: number; access: Access };
    const reg = transport.register(region, req.offset, req.length, req.access);
    void ep.send(PeerMessage.KEY_REPLY, Buffer.alloc(0), reg.packedKey());
  });
  transport.onMessage(PeerMessage.READ, (ep, header) => {
    const req = JSON.parse(header.toString()) as { offset: number; length: number };
    void ep.send(PeerMessage.READ_REPLY, Buffer.alloc(0), Buffer.from(region.bytes(req.offset, req.length)));
  });
  transport.onMessage(PeerMessage.EXIT, () => {
    transport.close();
    region.close();
  });
  const port = await transport.listen('127.0.0.1', 0);
  process.stdout.write(JSON.stringify({ port }) + '\n');
}

if (require.main === module) {
  const [regionPath, size] = process.argv.slice(2);
  serve(regionPath, Number(size)).catch((err) => {
    process.stderr.write(`peer failed: ${(err as Error).stack}\n`);
    process.exit(1);
  });
}
