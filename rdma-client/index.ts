// The rdmq fast-path SDK. Names follow kafkajs where the idea is the same:
//
//   const rdmq = new Rdmq({ control: '127.0.0.1:7400' });
//   const producer = rdmq.producer({ mode: 'shared' });
//   await producer.connect();
//   await producer.send({ topic: 'events', messages: [{ key: 'k', value: 'v' }] });
//   const consumer = rdmq.consumer({ groupId: 'readers' });   // a member of a consumer group
import { Admin, TopicSpec } from './admin';
import { Connection, ConnectionOptions } from './connection';
import { Consumer, ConsumerOptions, RunOptions } from './consumer';
import { GroupConsumer, GroupConsumerOptions, TopicPartitionOffset } from './group-consumer';
import { BatchToWrite, Producer, ProducerOptions, ProducerRecord, RecordMetadata } from './producer';

export { Admin, BatchToWrite, Connection, ConnectionOptions, Consumer, ConsumerOptions, Producer, ProducerOptions, ProducerRecord, RecordMetadata, RunOptions };
export { GroupConsumer, GroupConsumerOptions, TopicPartitionOffset };
export { ConsumedMessage, EachBatchPayload, EachMessagePayload, EachRawBatchPayload } from './consumer';
export { AuthorizationError, RdmqError } from './errors';
export { SaslOptions } from './authentication';
export { parseControlAddresses } from './connection';
export { murmur2 } from './partitioner';
export { PartitionFetcher, FetchChunks, FetchResult, ReadAheadBudget } from './fetcher';
export { PartitionView, SegmentView } from './partition-view';

/** Lazily connects on first use; each producer/consumer/admin gets its own connection. */
class Client<T> {
  private inner: T | undefined;
  private connection: Connection | undefined;
  constructor(
    private readonly options: ConnectionOptions,
    private readonly make: (c: Connection) => T,
  ) {}
  async connect(): Promise<T> {
    if (!this.inner) {
      this.connection = await Connection.open(this.options);
      this.inner = this.make(this.connection);
    }
    return this.inner;
  }
  get(): T {
    if (!this.inner) throw new Error('call connect() first');
    return this.inner;
  }
  async disconnect(before?: (t: T) => Promise<void>): Promise<void> {
    if (this.inner && before) await before(this.inner);
    await this.connection?.close();
    this.inner = undefined;
    this.connection = undefined;
  }
}

export interface ConsumerClient {
  connect(): Promise<void>;
  subscribe(s: { topic: string; fromBeginning?: boolean; partitions?: number[] }): Promise<void>;
  seek(s: { topic: string; partition: number; offset: string | number | bigint }): void;
  run(handlers: RunOptions, onError?: (err: Error) => void): Promise<void>;
  stop(): Promise<void>;
  /** Bytes read from each storage node's copies (replication spreads readers over them). */
  readBytesByNode(): Map<string, number>;
  /** The same, by each storage node's fast-path address. */
  readBytesByAddress(): Map<string, number>;
  disconnect(): Promise<void>;
}

export interface GroupConsumerClient {
  connect(): Promise<void>;
  /** The group's topics: `topic` or `topics`; fromBeginning is where a partition without a committed offset starts. */
  subscribe(s: { topic?: string; topics?: string[]; fromBeginning?: boolean }): Promise<void>;
  /** Joins the group; resolves once the first assignment is being read. */
  run(handlers: RunOptions, onError?: (err: Error) => void): Promise<void>;
  commitOffsets(offsets: TopicPartitionOffset[]): Promise<void>;
  /** The partitions this member reads now. */
  assignment(): { topic: string; partitions: number[] }[];
  /** Stops reading, commits what was handled and leaves the group. */
  stop(): Promise<void>;
  disconnect(): Promise<void>;
}

export class Rdmq {
  constructor(private readonly options: ConnectionOptions = {}) {}

  producer(options: ProducerOptions = {}) {
    const client = new Client(this.options, (c) => new Producer(c, options));
    return {
      connect: async () => void (await client.connect()),
      send: (record: ProducerRecord): Promise<RecordMetadata[]> => client.get().send(record),
      disconnect: () => client.disconnect((p) => p.disconnect()),
      /** Bytes of committed batches' buffers kept for the next sends (each send of 64 KiB or more encodes into one). */
      get idleBatchBufferBytes(): number {
        return client.get().idleBatchBufferBytes;
      },
    };
  }

  /** With a groupId, a member of that consumer group (shared with Kafka clients of the group); without, a consumer of the partitions it names. */
  consumer(options: GroupConsumerOptions): GroupConsumerClient;
  consumer(options?: ConsumerOptions): ConsumerClient;
  consumer(options: ConsumerOptions | GroupConsumerOptions = {}): ConsumerClient | GroupConsumerClient {
    if ('groupId' in options && options.groupId !== undefined) return this.groupConsumer(options);
    const client = new Client(this.options, (c) => new Consumer(c, options));
    return {
      connect: async () => void (await client.connect()),
      subscribe: (s: { topic: string; fromBeginning?: boolean; partitions?: number[] }) => client.get().subscribe(s),
      seek: (s: { topic: string; partition: number; offset: string | number | bigint }) => client.get().seek(s),
      run: (handlers: RunOptions, onError?: (err: Error) => void) => client.get().run(handlers, onError),
      stop: () => client.get().stop(),
      /** Bytes read from each storage node's copies (replication spreads readers over them). */
      readBytesByNode: () => client.get().readBytesByNode(),
      readBytesByAddress: () => client.get().readBytesByAddress(),
      disconnect: () => client.disconnect((c) => c.stop()),
    };
  }

  private groupConsumer(options: GroupConsumerOptions): GroupConsumerClient {
    const client = new Client(this.options, (c) => new GroupConsumer(c, options));
    return {
      connect: async () => void (await client.connect()),
      subscribe: (s) => client.get().subscribe(s),
      run: (handlers, onError) => client.get().run(handlers, onError),
      commitOffsets: (offsets) => client.get().commitOffsets(offsets),
      assignment: () => client.get().assignment(),
      stop: () => client.get().stop(),
      disconnect: () => client.disconnect((c) => c.stop()),
    };
  }

  admin() {
    const client = new Client(this.options, (c) => new Admin(c));
    return {
      connect: async () => void (await client.connect()),
      createTopics: (o: { topics: TopicSpec[] }) => client.get().createTopics(o),
      createPartitions: (o: { topicPartitions: { topic: string; count: number }[] }) => client.get().createPartitions(o),
      alterTopicConfigs: (topic: string, changes: { set?: Record<string, string>; reset?: string[] }) => client.get().alterTopicConfigs(topic, changes),
      deleteTopics: (o: { topics: string[] }) => client.get().deleteTopics(o),
      listTopics: () => client.get().listTopics(),
      describeTopic: (name: string) => client.get().describeTopic(name),
      fetchTopicOffsets: (topic: string) => client.get().fetchTopicOffsets(topic),
      disconnect: () => client.disconnect(),
    };
  }
}
