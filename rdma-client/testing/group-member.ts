// A consumer-group member in its own process, for crash tests: joins GROUP on
// TOPIC from the beginning and prints one line per handled record,
//   {"partition": p, "offset": "n", "value": "..."}
// after a delay of --handle-ms each (so it is mid-stream when killed), and
// {"assigned": [partitions]} once its first assignment is being read, and
// {"error": message} for each error run() reports.
import { parseArgs } from 'util';
import { Rdmq } from '..';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      control: { type: 'string' },
      topic: { type: 'string' },
      group: { type: 'string' },
      'handle-ms': { type: 'string', default: '0' },
    },
  });
  const handleMs = Number(values['handle-ms']);
  const consumer = new Rdmq({ control: values.control }).consumer({ groupId: values.group!, sessionTimeoutMs: 6000, heartbeatIntervalMs: 500 });
  await consumer.connect();
  await consumer.subscribe({ topic: values.topic!, fromBeginning: true });
  await consumer.run(
    {
      eachMessage: async ({ partition, message }) => {
        if (handleMs > 0) await new Promise((resolve) => setTimeout(resolve, handleMs));
        process.stdout.write(`${JSON.stringify({ partition, offset: message.offset, value: message.value?.toString() })}\n`);
      },
    },
    (err) => process.stdout.write(`${JSON.stringify({ error: err.message })}\n`),
  );
  process.stdout.write(`${JSON.stringify({ assigned: consumer.assignment().flatMap((a) => a.partitions) })}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
