// Any Kafka-protocol server (rdmq's gateway or Apache Kafka) as a door, driven
// by a real client: kafkajs in this process or kcat (librdkafka) as child
// processes. The benchmark topic is created and deleted with kafkajs's admin
// for both, so both see the same topic settings.
import * as fs from 'fs';
import { Kafka, logLevel, SASLOptions } from 'kafkajs';
import { Door } from './door';
import { KafkajsDoor } from './kafkajs-door';
import { KcatDoor } from './kcat-door';

export type KafkaClient = 'kafkajs' | 'kcat';

export interface KafkaDoorOptions {
  bootstrap: string;
  client: KafkaClient;
  batchBytes: number;
  /** Value bytes per record (kcat: per line, newline included). */
  recordBytes: number;
  acks: number;
  partitions: number;
  /** kafkajs and kcat: members of one consumer group, which splits the partitions between them. */
  consumers: number;
  /** The topic's replication factor (default 1). */
  replicationFactor?: number;
  /** SASL_SSL: the CA that signed the gateway's certificate and a SCRAM user; plaintext when absent. */
  security?: KafkaSecurity;
}

export interface KafkaSecurity {
  caFile: string;
  mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
  username: string;
  password: string;
}


/** Creates the benchmark topic and returns the door of `o.client` onto it. */
export async function openKafkaDoor(o: KafkaDoorOptions): Promise<Door> {
  const s = o.security;
  const kafka = new Kafka({
    clientId: 'rdmq-bench',
    brokers: o.bootstrap.split(','),
    logLevel: logLevel.NOTHING,
    ...(s
      ? {
          ssl: { ca: [fs.readFileSync(s.caFile)] },
          sasl: (s.mechanism === 'SCRAM-SHA-256'
            ? { mechanism: 'scram-sha-256', username: s.username, password: s.password }
            : { mechanism: 'scram-sha-512', username: s.username, password: s.password }) as SASLOptions,
        }
      : {}),
  });
  const admin = kafka.admin();
  await admin.connect();
  const topic = `bench-${o.client}-${o.batchBytes}-${Date.now()}`;
  try {
    await admin.createTopics({
      topics: [
        {
          topic,
          numPartitions: o.partitions,
          replicationFactor: o.replicationFactor ?? 1,
          configEntries: [
            { name: 'max.message.bytes', value: String(Math.max(o.batchBytes * 2, 1 << 20)) },
            { name: 'segment.bytes', value: String(Math.max(64 << 20, 4 * o.batchBytes)) },
          ],
        },
      ],
      waitForLeaders: true,
    });
  } catch (err) {
    await admin.disconnect();
    throw err;
  }
  const close = async (): Promise<void> => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  };
  return o.client === 'kafkajs' ? new KafkajsDoor(kafka, topic, o, close) : new KcatDoor(topic, o, close);
}
