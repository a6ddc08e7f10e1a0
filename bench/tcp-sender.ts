// Child of measureTcpLoopbackMBps: writes chunks to 127.0.0.1:PORT for N seconds.
import * as net from 'net';

const [port, chunkBytes, seconds] = process.argv.slice(2).map(Number);
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
