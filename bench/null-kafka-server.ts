// A Kafka server that acknowledges every produce and stores nothing: what a
// Kafka client reaches on this machine when the server costs nothing. rdmq
// bench measures kcat against it in the same run as the gateway, so the
// gateway's figure can be read against the client's own ceiling.
//
// Run as a child process: prints {"port": N} once listening; every topic asked
// for exists with one partition led by this server. Anything but ApiVersions,
// Metadata and Produce closes the connection.
import * as net from 'net';
import { RECORD_BATCH_OVERHEAD, RECORD_COUNT_OFFSET } from '../format';
import { ZERO_UUID } from '../gateway/broker-view';
import { decodeFrame, encodeAnswer } from '../gateway/dispatch';
import { apiVersionsBody } from '../gateway/handlers/api-versions';
import { DecodedRequest, FrameSplitter, RequestBody, ResponseInput } from '../gateway/protocol';

const MAX_FRAME_BYTES = 100 << 20;
let nextOffset = 0n;

function answer(request: DecodedRequest, port: number): ResponseInput<'ApiVersions' | 'Metadata' | 'Produce'> | undefined {
  switch (request.apiName) {
    case 'ApiVersions':
      return apiVersionsBody();
    case 'Metadata': {
      const body = request.body as RequestBody<'Metadata'>;
      return {
        throttleTimeMs: 0,
        brokers: [{ nodeId: 0, host: '127.0.0.1', port, rack: null }],
        clusterId: 'null-kafka',
        controllerId: 0,
        topics: (body.topics ?? []).map((t) => ({
          errorCode: 0,
          name: t.name,
          topicId: ZERO_UUID,
          isInternal: false,
          partitions: [{ errorCode: 0, partitionIndex: 0, leaderId: 0, leaderEpoch: 0, replicaNodes: [0], isrNodes: [0], offlineReplicas: [] }],
        })),
      };
    }
    case 'Produce': {
      const body = request.body as RequestBody<'Produce'>;
      return {
        throttleTimeMs: 0,
        responses: body.topicData.map((t) => ({
          name: t.name,
          partitionResponses: t.partitionData.map((p) => {
            const baseOffset = nextOffset;
            // The record count of a v2 batch, without reading the records.
            nextOffset += BigInt(p.records && p.records.length >= RECORD_BATCH_OVERHEAD ? p.records.readInt32BE(RECORD_COUNT_OFFSET) : 0);
            return { index: p.index, errorCode: 0, baseOffset, logAppendTimeMs: -1n, logStartOffset: 0n };
          }),
        })),
      };
    }
    default:
      return undefined;
  }
}

const server = net.createServer((socket) => {
  const splitter = new FrameSplitter(MAX_FRAME_BYTES);
  const port = (server.address() as net.AddressInfo).port;
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    try {
      for (const frame of splitter.push(chunk)) {
        const decoded = decodeFrame(frame, 100_000);
        if ('answer' in decoded) {
          for (const c of decoded.answer) socket.write(c);
          continue;
        }
        const body = answer(decoded.request, port);
        if (!body) return void socket.destroy();
        const acksZero = decoded.request.apiName === 'Produce' && (decoded.request.body as RequestBody<'Produce'>).acks === 0;
        if (!acksZero) for (const c of encodeAnswer(decoded.request, body)) socket.write(c);
      }
    } catch {
      socket.destroy();
    }
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: (server.address() as net.AddressInfo).port }) + '\n'));
process.on('SIGTERM', () => process.exit(0));
