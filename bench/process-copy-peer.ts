// Child of measureProcessCopyMBps (process-copy.ts): the other process of a
// CMA copy. Connects to SOCKET, holds one buffer of BYTES filled with SEED's
// pattern and sends its address (8 bytes, big-endian); each byte it receives
// asks for the CRC32C of what the buffer holds now (4 bytes, big-endian).
// Exits when the bench closes the connection.
//   process-copy-peer SOCKET BYTES SEED
import * as net from 'net';
import { bufferAddress, crc32c } from '../addon';
import { fillPattern } from './process-copy';

const [socketPath, bytesArg, seedArg] = process.argv.slice(2);
const buffer = Buffer.allocUnsafeSlow(Number(bytesArg));
fillPattern(buffer, Number(seedArg));

const socket = net.connect(socketPath, () => {
  const hello = Buffer.alloc(8);
  hello.writeBigUInt64BE(bufferAddress(buffer));
  socket.write(hello);
});
socket.on('data', (asks: Buffer) => {
  for (let i = 0; i < asks.length; i++) {
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32c(buffer));
    socket.write(crc);
  }
});
socket.on('error', () => process.exit(1));
socket.on('close', () => process.exit(0));
