// Children of measureTcpLoopbackMBps, one per end of the connection:
//   receive            listens on 127.0.0.1, sends its port to the parent, counts
//                      what arrives and sends the MB/s once the sender ends
//   send PORT BYTES S  writes BYTES-sized chunks to PORT for S seconds
// Neither end runs in the bench's own process: the gigabytes received would
// otherwise churn its heap just before the rows it measures.
import * as net from 'net';

function receive(): void {
  const server = net.createServer((socket) => {
    let bytes = 0;
    let start = 0n;
    socket.on('data', (chunk: Buffer) => {
      if (start === 0n) start = process.hrtime.bigint();
      bytes += chunk.length;
    });
    socket.on('end', () => {
      const mbps = bytes / (Number(process.hrtime.bigint() - start) / 1e9) / 1e6;
      server.close();
      process.send!({ mbps }, () => process.exit(0));
    });
  });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as net.AddressInfo).port }));
}

function send(port: number, chunkBytes: number, seconds: number): void {
  const chunk = Buffer.alloc(chunkBytes, 0x61);
  const socket = net.connect(port, '127.0.0.1', () => {
    const deadline = Date.now() + seconds * 1000;
    const pump = (): void => {
      while (Date.now() < deadline) {
        if (!socket.write(chunk)) {
          socket.once('drain', pump);
          return;
        }
      }
      socket.end();
    };
    pump();
  });
}

const [role, ...args] = process.argv.slice(2);
if (role === 'receive') receive();
else if (role === 'send') send(...(args.map(Number) as [number, number, number]));
else throw new Error(`tcp-loopback: receive, or send PORT CHUNK_BYTES SECONDS; got ${role}`);
