// The two producing workloads. Each send carries `recordsPerSend` unique
// values to one partition (round robin), so an ack's base offset places
// every value. A send that throws is `fail`, one that hangs past its timeout
// is `info`: both indeterminate. After either the client is rebuilt, as an
// application would, and goes on.
import { Producer as KafkaProducer } from 'kafkajs';
import { Rdmq } from '../../rdma-client';
import { nowMs } from '../history';
import { abandon, ClientRuntime, Pacer, TimeoutError, withTimeout, workloadKafka } from './runtime';

const CONNECT_TIMEOUT_MS = 10_000;
/** Longer than kafkajs's own retries (8 with up to 2 s backoff) so its retries are what run out first. */
const KAFKA_SEND_TIMEOUT_MS = 45_000;
const SDK_SEND_TIMEOUT_MS = 20_000;
const REBUILD_BACKOFF_MS = 300;

interface Door {
  connect(): Promise<void>;
  /** Sends `values` to `partition`; resolves with the base offset. */
  send(partition: number, values: string[]): Promise<number>;
  close(): Promise<void>;
}

function kafkaDoor(rt: ClientRuntime): Door {
  const s = rt.settings;
  const kafka = workloadKafka(s, 8);
  let producer: KafkaProducer | undefined;
  return {
    connect: async () => {
      producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
      await producer.connect();
    },
    send: async (partition, values) => {
      const meta = await producer!.send({ topic: s.topic, acks: -1, messages: values.map((value) => ({ value, partition })) });
      const entry = meta.find((m) => m.partition === partition);
      if (!entry || entry.baseOffset === undefined) throw new Error(`no base offset for partition ${partition} in ${JSON.stringify(meta)}`);
      return Number(entry.baseOffset);
    },
    close: async () => producer?.disconnect(),
  };
}

function sdkDoor(rt: ClientRuntime): Door {
  const s = rt.settings;
  const producer = new Rdmq({ control: s.control, requestTimeoutMs: 5000 }).producer({ mode: 'shared' });
  return {
    connect: () => producer.connect(),
    send: async (partition, values) => {
      const meta = await producer.send({ topic: s.topic, messages: values.map((value) => ({ value, partition })) });
      const entry = meta.find((m) => m.partition === partition);
      if (!entry) throw new Error(`no base offset for partition ${partition} in ${JSON.stringify(meta)}`);
      return Number(entry.baseOffset);
    },
    close: () => producer.disconnect(),
  };
}

export async function runProducer(rt: ClientRuntime): Promise<void> {
  const s = rt.settings;
  const door = s.kind === 'kafka-producer' ? 'kafka' : 'sdk';
  const make = door === 'kafka' ? kafkaDoor : sdkDoor;
  const sendTimeoutMs = door === 'kafka' ? KAFKA_SEND_TIMEOUT_MS : SDK_SEND_TIMEOUT_MS;
  const pacer = new Pacer((1000 * s.recordsPerSend) / s.recordsPerSecond);
  let client: Door | undefined;
  let seq = 0;
  while (!rt.stopping) {
    if (!client) {
      const candidate = make(rt);
      try {
        await withTimeout(candidate.connect(), CONNECT_TIMEOUT_MS, 'connect');
        client = candidate;
      } catch (err) {
        rt.error(err);
        await abandon(() => candidate.close());
        await rt.sleep(REBUILD_BACKOFF_MS);
        continue;
      }
    }
    const partition = seq % s.partitions;
    const values = Array.from({ length: s.recordsPerSend }, () => `${s.name}.${seq++}`);
    for (const value of values) rt.history.append({ f: 'send', type: 'invoke', door, process: s.name, value, partition, timeMs: nowMs() });
    try {
      const base = await withTimeout(client.send(partition, values), sendTimeoutMs, 'send');
      const at = nowMs();
      values.forEach((value, i) => rt.history.append({ f: 'send', type: 'ok', door, process: s.name, value, partition, offset: base + i, timeMs: at }));
      rt.progress.acked += values.length;
    } catch (err) {
      const type = err instanceof TimeoutError ? 'info' : 'fail';
      const error = String((err as Error)?.message ?? err).slice(0, 200);
      const at = nowMs();
      for (const value of values) rt.history.append({ f: 'send', type, door, process: s.name, value, partition, error, timeMs: at });
      rt.progress.failed += values.length;
      rt.error(err);
      const broken = client;
      client = undefined;
      await abandon(() => broken.close());
      await rt.sleep(REBUILD_BACKOFF_MS);
      continue;
    }
    await pacer.wait(rt);
  }
  if (client) await abandon(() => client!.close());
}
