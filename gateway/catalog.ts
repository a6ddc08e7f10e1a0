// Where the data path (Produce, Fetch) looks topics up: name → topic id,
// partition count and config, and a partition's log start and high
// watermark. In the broker's process that is the broker's own state; in a
// gateway of its own (`rdmq gateway`) it is a cache of the broker's answers
// over gRPC, refreshed when it is older than `maxAgeMs` and at once when a
// name or partition is missing from it.
import { Broker } from '../broker';
import { Connection, PartitionFetcher } from '../rdma-client';
import type { TopicInfo } from '../rdma-client/connection';
import { KafkaError } from './protocol';
import { effectiveTopicConfig, findPartition, findTopic, findTopicById, parseTopicConfigs, TopicConfig } from './broker-view';

export interface CatalogTopic {
  name: string;
  topicId: number;
  partitionCount: number;
  config: TopicConfig;
}

export interface PartitionOffsets {
  logStartOffset: bigint;
  highWatermark: bigint;
}

export interface TopicCatalog {
  /** The topic when it has this partition; undefined when the topic or partition does not exist. */
  lookup(name: string, partition: number): Promise<CatalogTopic | undefined>;
  /** The partition's log start offset, possibly a little old (it only grows). */
  logStartOffset(topic: CatalogTopic, partition: number): bigint;
  /**
   * Log start and high watermark fresh enough to judge whether `offset` can be
   * read. `reader` opens (or finds) the partition's reader, whose watermark
   * may lag the broker's by one push; a catalog that knows better does not call it.
   */
  offsetsFor(topic: CatalogTopic, partition: number, offset: bigint, reader: () => Promise<PartitionFetcher>): Promise<PartitionOffsets>;
  /** The fast path says the topic is gone or changed: look it up afresh next time. */
  invalidate(name: string): void;
  /** The name of the topic with this id (Fetch v13+ names topics by id); undefined when none has it. */
  nameOf(topicId: number): Promise<string | undefined>;
}

/** The broker's own state, in its process. */
export class BrokerCatalog implements TopicCatalog {
  constructor(private readonly broker: Broker) {}

  async lookup(name: string, partition: number): Promise<CatalogTopic | undefined> {
    const topic = findTopic(this.broker, name);
    return topic && findPartition(this.broker, topic, partition) ? topic : undefined;
  }

  logStartOffset(topic: CatalogTopic, partition: number): bigint {
    return this.broker.partition(topic.topicId, partition).state.logStartOffset();
  }

  async offsetsFor(topic: CatalogTopic, partition: number): Promise<PartitionOffsets> {
    const state = this.broker.partition(topic.topicId, partition).state;
    return { logStartOffset: state.logStartOffset(), highWatermark: state.highWatermark() };
  }

  invalidate(): void {}

  async nameOf(topicId: number): Promise<string | undefined> {
    return findTopicById(this.broker, topicId)?.name;
  }
}

interface CachedTopic extends CatalogTopic {
  logStartOffsets: bigint[];
}

/** A cache of the broker's topics, fetched over its control plane. */
export class RemoteCatalog implements TopicCatalog {
  private topics = new Map<string, CachedTopic>();
  private fetchedAt = 0;
  private refreshing: Promise<void> | undefined;

  constructor(
    /** The current fast-path connection (a gateway opens a new one after losing the broker). */
    private readonly connection: () => Connection,
    private readonly maxAgeMs = 1000,
    /** Misses within this long of the last refresh wait for no new one (unknown names cannot hammer the broker). */
    private readonly minRefreshIntervalMs = 100,
    private readonly log: (message: string) => void = () => undefined,
  ) {}

  async lookup(name: string, partition: number): Promise<CatalogTopic | undefined> {
    const age = Date.now() - this.fetchedAt;
    let topic = withPartition(this.topics.get(name), partition);
    if (!topic && age >= this.minRefreshIntervalMs) {
      await this.refresh();
      topic = withPartition(this.topics.get(name), partition);
    } else if (age >= this.maxAgeMs) {
      void this.refresh().catch((err: Error) => this.log(`refreshing topics from the broker: ${err.message}`));
    }
    return topic;
  }

  logStartOffset(topic: CatalogTopic, partition: number): bigint {
    return this.topics.get(topic.name)?.logStartOffsets[partition] ?? 0n;
  }

  async offsetsFor(topic: CatalogTopic, partition: number, offset: bigint, reader: () => Promise<PartitionFetcher>): Promise<PartitionOffsets> {
    const logStartOffset = this.logStartOffset(topic, partition);
    const fetcher = await reader();
    if (offset >= logStartOffset && offset <= fetcher.highWatermark) return { logStartOffset, highWatermark: fetcher.highWatermark };
    // Outside what this gateway has seen: ask the broker before calling it out of range.
    const fresh = await this.connection().describeTopic(topic.name);
    const cached = this.topics.get(topic.name);
    const p = fresh.partitions.find((x) => x.partition === partition);
    if (!p || fresh.topicId !== topic.topicId) {
      this.invalidate(topic.name);
      throw new KafkaError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${topic.name}' partition ${partition} no longer exists`);
    }
    if (cached && cached.topicId === fresh.topicId) cached.logStartOffsets[partition] = BigInt(p.logStartOffset);
    return { logStartOffset: BigInt(p.logStartOffset), highWatermark: BigInt(p.highWatermark) };
  }

  invalidate(name: string): void {
    this.topics.delete(name);
  }

  async nameOf(topicId: number): Promise<string | undefined> {
    const cached = (): string | undefined => [...this.topics.values()].find((t) => t.topicId === topicId)?.name;
    const name = cached();
    if (name !== undefined || Date.now() - this.fetchedAt < this.minRefreshIntervalMs) return name;
    await this.refresh();
    return cached();
  }

  /** Fetches every topic; concurrent callers share one request. */
  refresh(): Promise<void> {
    this.refreshing ??= this.connection()
      .call<{ topics: TopicInfo[] }>('listTopics', {})
      .then((reply) => {
        this.topics = new Map(reply.topics.map((t) => [t.name, toCached(t)]));
        this.fetchedAt = Date.now();
      })
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }
}

/** The topic if it has this partition. */
function withPartition(topic: CachedTopic | undefined, partition: number): CachedTopic | undefined {
  return topic && Number.isInteger(partition) && partition >= 0 && partition < topic.partitionCount ? topic : undefined;
}

function toCached(t: TopicInfo): CachedTopic {
  const partitions = [...t.partitions].sort((a, b) => a.partition - b.partition);
  return {
    name: t.name,
    topicId: t.topicId,
    partitionCount: partitions.length,
    config: effectiveTopicConfig(parseTopicConfigs(t.configs)),
    logStartOffsets: partitions.map((p) => BigInt(p.logStartOffset)),
  };
}
