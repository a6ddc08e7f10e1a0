// A Kafka server that acknowledges every produce and stores nothing: what a
// Kafka client reaches on this machine when the server costs nothing. rdmq
// bench measures kcat against it in the same run as the gateway, so the
// gateway's figure can be read against the client's own ceiling.
//
// It also serves reads, for the same purpose on the consumer side: with
// `--serve BATCH_BYTES RECORD_BYTES TOTAL_BYTES`, every topic holds one
// partition of that many bytes of record batches, built once in memory before
// it listens (records of RECORD_BYTES - 1 bytes, as kcat's producer writes
// lines of RECORD_BYTES with their newline), answered from views of that
// memory: ListOffsets, OffsetForLeaderEpoch and Fetch cost it no copy. A Fetch
// answer holds at most what the gateway's does at its default
// (FETCH_RESPONSE_BYTES_DEFAULT), so a client reads answers of the same size
// from both.
//
// Consumers that must join a group to read (kafkajs has no other way) get a
// group of their own: every group here has one member, the one that joins,
// which is its leader and reads every partition it assigns itself; no offset
// was ever committed (commits are acknowledged and forgotten).
//
// Run as a child process: prints {"port": N} once listening ({"port": N,
// "records": R} with --serve, R the records it serves); every topic asked
// for exists with one partition led by this server. Anything but ApiVersions,
// Metadata, Produce, ListOffsets, OffsetForLeaderEpoch, Fetch and the group
// requests above closes the connection.
import * as net from 'net';
import { buildRecordBatch, RECORD_BATCH_OVERHEAD, RECORD_COUNT_OFFSET, setBaseOffset } from '../format';
import { ZERO_UUID } from '../gateway/broker-view';
import { FETCH_RESPONSE_BYTES_DEFAULT } from '../gateway/config';
import { decodeFrame, encodeAnswer } from '../gateway/dispatch';
import { apiVersionsBody } from '../gateway/handlers/api-versions';
import { DecodedRequest, FrameSplitter, RequestBody, ResponseInput } from '../gateway/protocol';

const MAX_FRAME_BYTES = 100 << 20;
const LATEST = -1n;
let nextOffset = 0n;

/** The one partition every topic has when reads are served: equal batches, back to back from offset 0. */
interface ServedLog {
  bytes: Buffer;
  batchBytes: number;
  recordsPerBatch: number;
  /** The high watermark: records in the log. */
  end: bigint;
}

let served: ServedLog | undefined;

async function buildLog(batchBytes: number, recordBytes: number, totalBytes: number): Promise<ServedLog> {
  const valueBytes = Math.max(1, recordBytes - 1);
  // Per record: its value plus about 8 bytes of framing (length, attributes, deltas, key and header counts).
  const recordsPerBatch = Math.max(1, Math.floor((batchBytes - RECORD_BATCH_OVERHEAD) / (valueBytes + 8)));
  const template = await buildRecordBatch({ records: Array.from({ length: recordsPerBatch }, () => ({ key: null, value: Buffer.alloc(valueBytes, 0x78) })) });
  const batches = Math.max(1, Math.ceil(totalBytes / (recordsPerBatch * valueBytes)));
  const bytes = Buffer.allocUnsafe(batches * template.length);
  for (let i = 0; i < batches; i++) {
    template.copy(bytes, i * template.length);
    // The base offset is outside the batch's CRC: the template's stays valid.
    setBaseOffset(bytes, i * template.length, BigInt(i * recordsPerBatch));
  }
  return { bytes, batchBytes: template.length, recordsPerBatch, end: BigInt(batches * recordsPerBatch) };
}

/** Whole batches from `offset`, at least one, within `limitBytes` otherwise (KIP-74). */
function readFrom(log: ServedLog, offset: bigint, limitBytes: number): Buffer {
  if (offset >= log.end || offset < 0n) return Buffer.alloc(0);
  const first = Number(offset / BigInt(log.recordsPerBatch));
  const available = log.bytes.length / log.batchBytes - first;
  const count = Math.min(available, Math.max(1, Math.floor(limitBytes / log.batchBytes)));
  return log.bytes.subarray(first * log.batchBytes, (first + count) * log.batchBytes);
}

type Served = 'ApiVersions' | 'Metadata' | 'Produce' | 'ListOffsets' | 'OffsetForLeaderEpoch' | 'Fetch' | GroupApi;
type GroupApi = 'FindCoordinator' | 'JoinGroup' | 'SyncGroup' | 'Heartbeat' | 'LeaveGroup' | 'OffsetFetch' | 'OffsetCommit';

let nextMember = 0;

/** The group requests of a consumer that is its group's only member. */
function answerGroup(request: DecodedRequest, port: number): ResponseInput<GroupApi> | undefined {
  const v = request.header.apiVersion;
  switch (request.apiName) {
    case 'FindCoordinator': {
      const body = request.body as RequestBody<'FindCoordinator'>;
      const here = { nodeId: 0, host: '127.0.0.1', port, errorCode: 0, errorMessage: null };
      if (v >= 4) return { throttleTimeMs: 0, coordinators: body.coordinatorKeys.map((key) => ({ key, ...here })) };
      return { throttleTimeMs: 0, ...here };
    }
    case 'JoinGroup': {
      const body = request.body as RequestBody<'JoinGroup'>;
      const memberId = body.memberId || `member-${++nextMember}`;
      const chosen = body.protocols[0];
      return {
        throttleTimeMs: 0,
        errorCode: 0,
        generationId: 1,
        protocolType: body.protocolType,
        protocolName: chosen?.name ?? (v >= 7 ? null : ''),
        leader: memberId,
        skipAssignment: false,
        memberId,
        members: [{ memberId, groupInstanceId: body.groupInstanceId ?? null, metadata: Buffer.from(chosen?.metadata ?? Buffer.alloc(0)) }],
      };
    }
    case 'SyncGroup': {
      const body = request.body as RequestBody<'SyncGroup'>;
      const own = body.assignments.find((a) => a.memberId === body.memberId);
      return { throttleTimeMs: 0, errorCode: 0, protocolType: body.protocolType ?? null, protocolName: body.protocolName ?? null, assignment: Buffer.from(own?.assignment ?? Buffer.alloc(0)) };
    }
    case 'Heartbeat':
      return { throttleTimeMs: 0, errorCode: 0 };
    case 'LeaveGroup': {
      const body = request.body as RequestBody<'LeaveGroup'>;
      if (v < 3) return { throttleTimeMs: 0, errorCode: 0 };
      return { throttleTimeMs: 0, errorCode: 0, members: body.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, errorCode: 0 })) };
    }
    case 'OffsetFetch': {
      const body = request.body as RequestBody<'OffsetFetch'>;
      const none = (topics: { name: string; partitionIndexes: number[] }[] | null) =>
        (topics ?? []).map((t) => ({ name: t.name, partitions: t.partitionIndexes.map((partitionIndex) => ({ partitionIndex, committedOffset: -1n, committedLeaderEpoch: -1, metadata: '', errorCode: 0 })) }));
      if (v >= 8) return { throttleTimeMs: 0, groups: body.groups.map((g) => ({ groupId: g.groupId, topics: none(g.topics), errorCode: 0 })) };
      return { throttleTimeMs: 0, topics: none(body.topics), errorCode: 0 };
    }
    case 'OffsetCommit': {
      const body = request.body as RequestBody<'OffsetCommit'>;
      return { throttleTimeMs: 0, topics: body.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: 0 })) })) };
    }
    default:
      return undefined;
  }
}

function answer(request: DecodedRequest, port: number): ResponseInput<Served> | undefined {
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
    case 'ListOffsets': {
      if (!served) return undefined;
      const log = served;
      const body = request.body as RequestBody<'ListOffsets'>;
      return {
        throttleTimeMs: 0,
        topics: body.topics.map((t) => ({
          name: t.name,
          partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: 0, timestamp: -1n, offset: p.timestamp === LATEST ? log.end : 0n, leaderEpoch: 0 })),
        })),
      };
    }
    case 'OffsetForLeaderEpoch': {
      if (!served) return undefined;
      const log = served;
      const body = request.body as RequestBody<'OffsetForLeaderEpoch'>;
      return {
        throttleTimeMs: 0,
        topics: body.topics.map((t) => ({ topic: t.topic, partitions: t.partitions.map((p) => ({ errorCode: 0, partition: p.partition, leaderEpoch: 0, endOffset: log.end })) })),
      };
    }
    case 'Fetch': {
      if (!served) return undefined;
      const log = served;
      const body = request.body as RequestBody<'Fetch'>;
      let left = Math.min(body.maxBytes, FETCH_RESPONSE_BYTES_DEFAULT);
      return {
        throttleTimeMs: 0,
        errorCode: 0,
        sessionId: 0,
        responses: body.topics.map((t) => ({
          topic: t.topic,
          topicId: t.topicId,
          partitions: t.partitions.map((p) => {
            const records = readFrom(log, p.fetchOffset, Math.min(p.partitionMaxBytes, Math.max(left, 0)));
            left -= records.length;
            return { partitionIndex: p.partition, errorCode: 0, highWatermark: log.end, lastStableOffset: log.end, logStartOffset: 0n, abortedTransactions: null, records };
          }),
        })),
      };
    }
    default:
      return answerGroup(request, port);
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
async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--serve') {
    const [batchBytes, recordBytes, totalBytes] = argv.slice(1, 4).map(Number);
    if (![batchBytes, recordBytes, totalBytes].every((n) => Number.isSafeInteger(n) && n > 0)) throw new Error('usage: null-kafka-server [--serve BATCH_BYTES RECORD_BYTES TOTAL_BYTES]');
    served = await buildLog(batchBytes, recordBytes, totalBytes);
  }
  // With --serve, also how many records it serves.
  const ready = (port: number) => ({ port, ...(served ? { records: Number(served.end) } : {}) });
  server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify(ready((server.address() as net.AddressInfo).port)) + '\n'));
}

main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(`null-kafka-server: ${err.message}\n`);
  process.exit(1);
});
process.on('SIGTERM', () => process.exit(0));
