// Topic administration over the broker's gRPC control plane, named like kafkajs.
import { Connection, TopicInfo } from './connection';

export interface TopicSpec {
  topic: string;
  numPartitions?: number;
  /** Copies of each segment on distinct storage nodes (default: the broker's default.replication.factor). */
  replicationFactor?: number;
  configEntries?: { name: string; value: string }[];
}

export class Admin {
  constructor(private readonly connection: Connection) {}

  /** Resolves to true when every topic was created (false when one already existed, like kafkajs). */
  async createTopics(options: { topics: TopicSpec[] }): Promise<boolean> {
    let allCreated = true;
    for (const t of options.topics) {
      try {
        await this.connection.call('createTopic', {
          name: t.topic,
          partitions: t.numPartitions ?? 1,
          ...(t.replicationFactor === undefined ? {} : { replicationFactor: t.replicationFactor }),
          configs: Object.fromEntries((t.configEntries ?? []).map((c) => [c.name, c.value])),
        });
      } catch (err) {
        if ((err as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS') throw err;
        allCreated = false;
      }
    }
    return allCreated;
  }

  /** Grows each topic to `count` partitions (never fewer), as kafkajs's createPartitions. */
  async createPartitions(options: { topicPartitions: { topic: string; count: number }[] }): Promise<void> {
    for (const t of options.topicPartitions) await this.connection.call('createPartitions', { name: t.topic, totalPartitions: t.count });
  }

  /** Sets config overrides (`set`) and resets others to the broker's default (`reset`); the topic's configs after. */
  async alterTopicConfigs(topic: string, changes: { set?: Record<string, string>; reset?: string[] }): Promise<Record<string, string>> {
    const reply = await this.connection.call<TopicInfo>('alterTopicConfigs', { name: topic, set: changes.set ?? {}, delete: changes.reset ?? [] });
    return reply.configs;
  }

  async deleteTopics(options: { topics: string[] }): Promise<void> {
    for (const name of options.topics) await this.connection.call('deleteTopic', { name });
  }

  async listTopics(): Promise<string[]> {
    const reply = await this.connection.call<{ topics: TopicInfo[] }>('listTopics', {});
    return reply.topics.map((t) => t.name);
  }

  describeTopic(name: string): Promise<TopicInfo> {
    return this.connection.describeTopic(name);
  }

  /** Per partition: low (log start) and high (high watermark) offsets, as kafkajs's fetchTopicOffsets. */
  async fetchTopicOffsets(topic: string): Promise<{ partition: number; low: string; high: string; offset: string }[]> {
    const info = await this.connection.describeTopic(topic);
    return info.partitions.map((p) => ({ partition: p.partition, low: p.logStartOffset, high: p.highWatermark, offset: p.highWatermark }));
  }
}
