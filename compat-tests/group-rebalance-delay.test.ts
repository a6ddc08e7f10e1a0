// group.initial.rebalance.delay.ms as Kafka has it: a lone kafkajs consumer
// joining an empty group waits the broker's delay (3 s by default, Kafka's own
// default) before its first assignment, and `rdmq start
// --group-initial-rebalance-delay-ms 0` (what Kafka's shipped
// server.properties sets) lets it in at once.
import { Kafka, logLevel } from 'kafkajs';
import { ClusterProcess, startCluster } from '../bench/cluster';

async function msUntilJoined(cluster: ClusterProcess, topic: string): Promise<number> {
  const kafka = new Kafka({ clientId: 'delay-test', brokers: [cluster.kafka!], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
  await admin.disconnect();
  const consumer = kafka.consumer({ groupId: `${topic}-group` });
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const started = Date.now();
    const joined = new Promise<number>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve(Date.now() - started)));
    await consumer.run({ eachMessage: async () => undefined });
    return await joined;
  } finally {
    await consumer.disconnect();
  }
}

describe('group.initial.rebalance.delay.ms', () => {
  it('by default a lone consumer waits the 3 s delay before its first assignment', async () => {
    const cluster = await startCluster({ regionSize: '64M' });
    try {
      expect(await msUntilJoined(cluster, 'delayed')).toBeGreaterThanOrEqual(2900);
    } finally {
      await cluster.stop();
    }
  }, 60_000);

  it('--group-initial-rebalance-delay-ms 0 assigns it at once', async () => {
    const cluster = await startCluster({ regionSize: '64M', extraArgs: ['--group-initial-rebalance-delay-ms', '0'] });
    try {
      expect(await msUntilJoined(cluster, 'at-once')).toBeLessThan(1500);
    } finally {
      await cluster.stop();
    }
  }, 60_000);

  it('refuses a value that is not a number of milliseconds', async () => {
    await expect(startCluster({ regionSize: '64M', extraArgs: ['--group-initial-rebalance-delay-ms', 'soon'] })).rejects.toThrow(/groupInitialRebalanceDelayMs|group-initial-rebalance-delay-ms|number/i);
  }, 60_000);
});
