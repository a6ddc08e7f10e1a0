// The rdmq fast-path SDK. Names follow kafkajs where the idea is the same:
//
//   const rdmq = new Rdmq({ control: '127.0.0.1:7400' });
//   const producer = rdmq.producer({ mode: 'shared' });
//   await producer.connect();
//   await producer.send({ topic: 'events', messages: [{ key: 'k', value: 'v' }] });
import { Admin, TopicSpec } from './admin';
import { Connection, ConnectionOptions } from './connection';
import { Consumer, ConsumerOptions, RunOptions } from './consumer';
import { Producer, ProducerOptions, ProducerRecord, RecordMetadata } from './producer';

export { Admin, Connection, ConnectionOptions, Consumer, ConsumerOptions, Producer, ProducerOptions, ProducerRecord, RecordMetadata, RunOptions };
export { RdmqError } from './errors';
export { murmur2 } from './partitioner';
export { PartitionFetcher, FetchResult } from './fetcher';
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

export class Rdmq {
  constructor(private readonly options: ConnectionOptions = {}) {}

  producer(options: ProducerOptions = {}) {
    const client = new Client(this.options, (c) => new Producer(c, options));
    return {
      connect: async () => void (await client.connect()),
      send: (record: ProducerRecord): Promise<RecordMetadata[]> => client.get().send(record),
      disconnect: () => client.disconnect((p) => p.disconnect()),
    };
  }

  consumer(options: ConsumerOptions = {}) {
    const client = new Client(this.options, (c) => new Consumer(c, options));
    return {
      connect: async () => void (await client.connect()),
      subscribe: (s: { topic: string; fromBeginning?: boolean; partitions?: number[] }) => client.get().subscribe(s),
      seek: (s: { topic: string; partition: number; offset: string | number | bigint }) => client.get().seek(s),
      run: (handlers: RunOptions, onError?: (err: Error) => void) => client.get().run(handlers, onError),
      stop: () => client.get().stop(),
      readBytesByReplica: () => client.get().readBytesByReplica(),
      disconnect: () => client.disconnect((c) => c.stop()),
    };
  }

  admin() {
    const client = new Client(this.options, (c) => new Admin(c));
    return {
      connect: async () => void (await client.connect()),
      createTopics: (o: { topics: TopicSpec[] }) => client.get().createTopics(o),
      deleteTopics: (o: { topics: string[] }) => client.get().deleteTopics(o),
      listTopics: () => client.get().listTopics(),
      describeTopic: (name: string) => client.get().describeTopic(name),
      fetchTopicOffsets: (topic: string) => client.get().fetchTopicOffsets(topic),
      disconnect: () => client.disconnect(),
    };
  }
}
