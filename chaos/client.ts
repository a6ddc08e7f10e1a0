// One chaos workload client, in its own process (so a client crash is
// isolated and the runner can see it): `node dist/chaos/client.js SETTINGS_JSON`,
// forked by the runner with an IPC channel.
import { runKafkaConsumer, runSdkConsumer } from './clients/consumers';
import { runProducer } from './clients/producers';
import { ClientRuntime } from './clients/runtime';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

async function main(): Promise<void> {
  const rt = new ClientRuntime();
  // A stray rejection inside a client library is noted, not fatal: the loop rebuilds the client.
  process.on('unhandledRejection', (err) => rt.error(err));
  switch (rt.settings.kind) {
    case 'kafka-producer':
    case 'sdk-producer':
      await runProducer(rt);
      break;
    case 'kafka-consumer':
      await runKafkaConsumer(rt);
      break;
    case 'sdk-consumer':
      await runSdkConsumer(rt);
      break;
  }
  rt.finish();
}

main().catch((err) => {
  process.stderr.write(`chaos client failed: ${(err as Error)?.stack ?? err}\n`);
  process.exit(1);
});
