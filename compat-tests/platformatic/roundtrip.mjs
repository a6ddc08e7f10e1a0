// @platformatic/kafka 1.x (ESM only, so it runs in its own Node process),
// unchanged, against an rdmq gateway. Usage: node roundtrip.mjs BOOTSTRAP TOPIC
//
// Creates TOPIC with 2 partitions, produces 20 keyed messages with a header
// through an idempotent producer (InitProducerId without a transactional id),
// consumes them in a consumer group from the earliest offset, commits each
// message, then asks the group's committed offsets. Prints one JSON line.
import { Admin, Consumer, Producer, stringDeserializers, stringSerializers } from '@platformatic/kafka';

const [bootstrap, topic] = process.argv.slice(2);
const common = { clientId: 'compat-platformatic', bootstrapBrokers: [bootstrap], retries: 3 };
const COUNT = 20;

const admin = new Admin(common);
await admin.createTopics({ topics: [topic], partitions: 2, replicas: 1 });
await admin.close();

const producer = new Producer({ ...common, serializers: stringSerializers, idempotent: true });
const sent = [];
for (let i = 0; i < COUNT; i += 5) {
  const messages = [];
  for (let j = i; j < i + 5; j++) messages.push({ topic, key: `k${j}`, value: `v${j}`, headers: { origin: 'platformatic' }, partition: j % 2 });
  const result = await producer.send({ messages });
  sent.push(...messages.map((m) => m.value));
  if (!result) throw new Error('send returned nothing');
}
const producerInfo = { producerId: String(producer.producerId ?? ''), producerEpoch: producer.producerEpoch ?? null };
await producer.close();

const consumer = new Consumer({ ...common, groupId: `${topic}-group`, deserializers: stringDeserializers });
const stream = await consumer.consume({ autocommit: false, topics: [topic], mode: 'earliest', sessionTimeout: 10000, heartbeatInterval: 500 });
const received = [];
const timer = setTimeout(() => {
  process.stderr.write(`only ${received.length} of ${COUNT} messages\n`);
  process.exit(1);
}, 30_000);
for await (const message of stream) {
  const origin = message.headers.get('origin');
  received.push({ partition: message.partition, offset: String(message.offset), key: message.key, value: message.value, header: origin ? String(origin) : '' });
  await message.commit();
  if (received.length === COUNT) break;
}
clearTimeout(timer);
const committed = await consumer.listCommittedOffsets({ topics: [{ topic, partitions: [0, 1] }] });
await stream.close();
await consumer.close();

console.log(
  JSON.stringify({
    sent,
    received,
    producer: producerInfo,
    committed: committed.get(topic).map(String),
  }),
);
