// A producer in its own process, for tests: sends COUNT messages "ID-i" in
// batches of BATCH to TOPIC and prints one line per acknowledged batch:
//   {"id": ID, "from": i, "to": j, "partition": p, "baseOffset": "n"}
// With --forever it keeps going until killed (crash tests).
import { parseArgs } from 'util';
import { Rdmq } from '..';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      control: { type: 'string' },
      topic: { type: 'string' },
      id: { type: 'string', default: 'p' },
      count: { type: 'string', default: '100' },
      batch: { type: 'string', default: '10' },
      mode: { type: 'string', default: 'shared' },
      partition: { type: 'string', default: '0' },
      forever: { type: 'boolean', default: false },
    },
  });
  const producer = new Rdmq({ control: values.control }).producer({ mode: values.mode as 'shared' | 'exclusive' });
  await producer.connect();
  const count = values.forever ? Number.MAX_SAFE_INTEGER : Number(values.count);
  const batch = Number(values.batch);
  const partition = Number(values.partition);
  for (let from = 0; from < count; from += batch) {
    const to = Math.min(count, from + batch);
    const messages = [];
    for (let i = from; i < to; i++) messages.push({ value: `${values.id}-${i}`, partition });
    const [meta] = await producer.send({ topic: values.topic!, messages });
    process.stdout.write(JSON.stringify({ id: values.id, from, to, partition: meta.partition, baseOffset: meta.baseOffset }) + '\n');
  }
  await producer.disconnect();
}

main().catch((err) => {
  process.stderr.write(`produce-worker: ${(err as Error).message}\n`);
  process.exit(1);
});
