// Reads a topic from the beginning with the SDK's consumer until `count`
// records arrived, then waits half a second more: anything beyond `count`
// would be a record that was never acknowledged, and shows up in the result.
import { Connection } from '../connection';
import { Consumer } from '../consumer';

export async function readAll(control: string, topic: string, count: number): Promise<{ offset: bigint; value: string }[]> {
  const connection = await Connection.open({ control });
  const consumer = new Consumer(connection);
  const seen: { offset: bigint; value: string }[] = [];
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${seen.length} of ${count}`)), 20_000);
      void consumer.run(
        {
          eachMessage: ({ message }) => {
            seen.push({ offset: BigInt(message.offset), value: message.value!.toString() });
            if (seen.length === count) {
              clearTimeout(timer);
              // Anything more would be a record that was never acknowledged.
              setTimeout(resolve, 500);
            }
          },
        },
        reject,
      );
    });
  } finally {
    await consumer.stop();
    await connection.close();
  }
  return seen;
}
