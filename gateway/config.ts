// The gateway's bounds, each with a default and checked with zod. Every queue
// and buffer a Kafka client can make the gateway hold is limited here.
//
// Memory sketch. Across all connections: request frames being received or
// handled hold at most `maxBufferedRequestBytes` (a frame's whole buffer is
// taken from it once its size is known; reading stops when it is full), plus
// at most one socket read (64 KiB) per connection that was reading when it
// filled; Fetch responses read and not yet written hold at most
// `maxFetchMemoryBytes`; `frameBufferPoolBytes` of finished Produce frames
// are kept for reuse. Per connection: at most `maxInFlightPerConnection`
// requests and `maxInFlightRequestBytes` of them (one request is always
// admitted, so add one frame of at most `maxFrameBytes`), and reads pause
// while responses over `maxPendingResponseBytes` wait for the socket. With
// the defaults a gateway holds about 256 + 256 + 16 MiB of request and
// response bytes however many clients send at once.
import { z } from 'zod';

const MiB = 1024 * 1024;
/** The default cap on a Fetch answer's record bytes (maxFetchResponseBytes; why 8 MiB: see there). */
export const FETCH_RESPONSE_BYTES_DEFAULT = 8 * MiB;

export const GatewayLimitsSchema = z
  .object({
    /** Largest request frame; a larger size prefix closes the connection (Kafka: socket.request.max.bytes). */
    maxFrameBytes: z.number().int().min(1024).max(0x7fffffff).default(100 * MiB),
    /** A connection with no traffic and nothing in flight for this long is closed (Kafka: connections.max.idle.ms). */
    idleTimeoutMs: z.number().int().min(100).max(24 * 3600_000).default(600_000),
    /** Requests read from one connection and not yet answered; reading pauses at this bound. */
    maxInFlightPerConnection: z.number().int().min(1).max(10_000).default(64),
    /**
     * Request bytes read from one connection and not yet answered; reading
     * pauses at this bound, the kernel's socket buffer fills and the client
     * waits (Kafka: queued.max.request.bytes). Deeper queues of large
     * requests add latency, not throughput: measured with 1 MiB Produce
     * requests, 8 in flight sustain the most, and 16 or more keep each
     * request alive long enough for its objects to reach V8's old
     * generation, which then costs a full GC every few MiB.
     */
    maxInFlightRequestBytes: z.number().int().min(64 * 1024).default(8 * MiB),
    /**
     * Request bytes held at once across every connection: frames being
     * received (a frame's whole size, once its prefix is read) and frames
     * being handled. At the bound, connections stop reading (first come,
     * first served) and their clients wait in TCP (Kafka: queued.max.request.bytes,
     * which is also global). At least `maxFrameBytes`.
     */
    maxBufferedRequestBytes: z.number().int().min(64 * 1024).default(256 * MiB),
    /** A frame whose buffer is taken must arrive whole within this time, or its connection is closed: a slow sender holds its share of maxBufferedRequestBytes no longer. */
    frameReceiveTimeoutMs: z.number().int().min(100).max(3_600_000).default(60_000),
    /** Buffers of finished large Produce frames kept for the next frames, shared by every connection (0: none). */
    frameBufferPoolBytes: z.number().int().min(0).default(16 * MiB),
    /** A connection whose client takes none of its queued response bytes for this long is closed: what they hold is given back. */
    responseWriteTimeoutMs: z.number().int().min(100).max(3_600_000).default(60_000),
    /** Response bytes queued on one socket before reading from it pauses. */
    maxPendingResponseBytes: z.number().int().min(64 * 1024).default(128 * MiB),
    maxConnections: z.number().int().min(1).max(1_000_000).default(10_000),
    /** Largest element count of any array in a request, checked before allocating. */
    maxArrayLength: z.number().int().min(16).max(10_000_000).default(100_000),
    /** Upper bound on a Fetch's max_wait_ms. */
    maxFetchWaitMs: z.number().int().min(0).max(3_600_000).default(30_000),
    /**
     * Upper bound on a Fetch response's record bytes (the client's max_bytes
     * is lowered to this; a first batch larger than it still goes whole, as
     * in Kafka). Kafka's broker allows 55 MiB; clients that ask for tens of
     * MiB at once (kafkajs) then spend their time faulting in a fresh buffer
     * for every answer, and read faster from answers of a few MiB, so the
     * default is 8 MiB. A consumer far away (tens of ms per round trip) that
     * fetches many partitions at once may want more.
     */
    maxFetchResponseBytes: z.number().int().min(64 * 1024).default(FETCH_RESPONSE_BYTES_DEFAULT),
    /**
     * Fetch response bytes read from storage and not yet written to their
     * sockets, across every connection. A Fetch takes its max_bytes from it
     * before reading; when none is free before its max_wait_ms ends it answers
     * with no records, and the client fetches again. At least `maxFetchResponseBytes`.
     */
    maxFetchMemoryBytes: z.number().int().min(64 * 1024).default(256 * MiB),
    /**
     * Bytes the partition readers may hold read ahead, over all of them: after
     * a Fetch that stops before the committed end, its reader reads what
     * follows while the client works through the answer (0, or any size
     * below one read, e.g. `--fetch-read-ahead-bytes 1`: never).
     */
    fetchReadAheadBytes: z.number().int().min(0).default(64 * MiB),
    /** Partition readers kept open (each holds a watermark subscription); least recently used close first. */
    maxOpenFetchers: z.number().int().min(1).max(1_000_000).default(4096),
    /** Batches between stage and commit at once in the gateway's shared fast-path producer. */
    producerStagingDepth: z.number().int().min(1).max(4096).default(64),
    /**
     * Writes of one partition between stage and commit at once. Produce
     * batches that arrive for a partition while this many are in flight wait
     * and go together as the next write (one stage, one commit, each batch
     * its own offsets and answer), up to the topic's max.message.bytes.
     */
    produceWritesPerPartition: z.number().int().min(1).max(1024).default(2),
    /** ListOffsets by timestamp scans at most this many bytes past the broker's index entry. */
    maxTimestampScanBytes: z.number().int().min(64 * 1024).default(64 * MiB),
    /** Most partitions a Kafka client may give a topic (CreateTopics, CreatePartitions); the broker's own bound is 10 000. */
    maxPartitionsPerTopic: z.number().int().min(1).max(10_000).default(10_000),
    /** Partitions of a topic created by Metadata auto-creation (Kafka: num.partitions). */
    defaultPartitions: z.number().int().min(1).max(10_000).default(1),
  })
  .strict()
  .refine((l) => l.defaultPartitions <= l.maxPartitionsPerTopic, { message: 'defaultPartitions must not exceed maxPartitionsPerTopic', path: ['defaultPartitions'] })
  .refine((l) => l.maxFrameBytes <= l.maxBufferedRequestBytes, { message: 'maxBufferedRequestBytes must be at least maxFrameBytes', path: ['maxBufferedRequestBytes'] })
  .refine((l) => l.maxFetchResponseBytes <= l.maxFetchMemoryBytes, { message: 'maxFetchMemoryBytes must be at least maxFetchResponseBytes', path: ['maxFetchMemoryBytes'] });

export type GatewayLimits = z.infer<typeof GatewayLimitsSchema>;
export type GatewayLimitsInput = z.input<typeof GatewayLimitsSchema>;

/** Applies defaults and checks; a bad value is one line naming the limit and what is allowed. */
export function parseGatewayLimits(input: GatewayLimitsInput = {}): GatewayLimits {
  const result = GatewayLimitsSchema.safeParse(input);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `gateway limit ${i.path.join('.') || '(object)'}: ${i.message}`);
    throw new RangeError(issues.join('; '));
  }
  return result.data;
}
