// `rdmq start --prefault-region`: the storage node faults its whole region in
// when it opens it, touching every page (an atomic add of zero, from user
// space and from the kernel). The touch must leave every stored byte as it
// was: records acknowledged before a SIGKILL are read back whole after a
// restart that faults the region in before recovery reads it.
import * as fs from 'fs';
import { Kafka, logLevel } from 'kafkajs';
import { ClusterProcess, startCluster } from '../bench/cluster';

const TOPIC = 'prefaulted';
const RECORDS = 3000;

function kafkaOf(cluster: ClusterProcess): Kafka {
  return new Kafka({ clientId: 'prefault-test', brokers: [cluster.kafka], logLevel: logLevel.NOTHING });
}

async function readAll(kafka: Kafka, expected: number): Promise<string[]> {
  const consumer = kafka.consumer({ groupId: `reader-${Date.now()}` });
  const values: string[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
  const done = new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: async ({ message }) => {
        values.push(message.value!.toString());
        if (values.length >= expected) resolve();
      },
    });
  });
  await done;
  await consumer.disconnect();
  return values;
}

describe('rdmq start --prefault-region', () => {
  let cluster: ClusterProcess | undefined;
  let dataDir: string | undefined;
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    dataDir = undefined;
  });

  it('faults the region in before it is ready, and a restart that does so recovers every acknowledged record unchanged', async () => {
    cluster = await startCluster({ regionSize: '96M', segmentSize: '4M', extraArgs: ['--prefault-region'] });
    expect(cluster.stderr()).toMatch(/region faulted in and opened in \d+\.\d s/);

    const producer = kafkaOf(cluster).producer();
    await producer.connect();
    const sent: string[] = [];
    for (let i = 0; i < RECORDS; i += 100) {
      const values = Array.from({ length: 100 }, (_, j) => `value-${i + j}-${'x'.repeat((i + j) % 700)}`);
      await producer.send({ topic: TOPIC, acks: -1, messages: values.map((value) => ({ value })) });
      sent.push(...values);
    }
    await producer.disconnect();

    // No clean shutdown: recovery reads the region after the restart has faulted it in.
    await cluster.kill();
    dataDir = cluster.dataDir;
    cluster = await startCluster({ dataDir, regionSize: '96M', segmentSize: '4M', extraArgs: ['--prefault-region'] });
    expect(cluster.stderr()).toMatch(/region faulted in and opened/);
    const read = await readAll(kafkaOf(cluster), sent.length);
    expect(read).toEqual(sent);
  }, 60_000);

  it('is off by default: the node opens without faulting the region in', async () => {
    cluster = await startCluster({ regionSize: '96M', segmentSize: '4M' });
    expect(cluster.stderr()).not.toMatch(/faulting the region in/);
  }, 30_000);
});
