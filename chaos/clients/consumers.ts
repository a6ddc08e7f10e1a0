// The two consuming workloads. Each logs every record it is handed, tagged
// with its session, and the offsets it commits.
//
// kafkajs: a member of one consumer group (all kafka-consumer clients share
// it), autoCommit off; after each batch it commits the next offset itself so
// the history knows exactly what was committed. Each group join starts a new
// session: from there a partition starts again at the group's commit. A
// consumer that reads nothing and hears nothing from the server for
// KAFKA_IDLE_MS is rebuilt.
//
// SDK: the fast path has no group coordinator, so the client keeps its own
// position (next offset per partition), and a new session (after an error,
// or when nothing arrives for IDLE_MS while producers run) starts from it;
// the position handed to seek is logged as the commit of its own group.
import { Consumer as KafkaConsumer } from 'kafkajs';
import { Rdmq } from '../../rdma-client';
import { nowMs } from '../history';
import { abandon, ClientRuntime, withTimeout, workloadKafka } from './runtime';

const CONNECT_TIMEOUT_MS = 10_000;
const IDLE_MS = 4000;
/**
 * A kafkajs consumer that read nothing and got no response to any request
 * for this long is rebuilt, as the SDK consumer is after IDLE_MS: in a chaos
 * run (cluster, after gateways and brokers were restarted) both kafkajs
 * consumers stopped for good with no connection open, no request in flight
 * and no crash event, so no server could have woken them. One that is
 * talking to the server is not rebuilt: after a restart its JoinGroup is
 * held for the group's initial rebalance delay (3 s, and 3 s more when the
 * other member joins meanwhile, as Kafka does), and a rebuild then only
 * started that wait again (a new member), which made the stall check fire.
 * The stall check (15 s without reads) still catches a server that answers
 * but does not serve.
 */
const KAFKA_IDLE_MS = 8000;
const REBUILD_BACKOFF_MS = 300;

export async function runKafkaConsumer(rt: ClientRuntime): Promise<void> {
  const s = rt.settings;
  const kafka = workloadKafka(s, 10);
  let joins = 0;
  while (!rt.stopping) {
    let session = `${s.name}.j${joins}`;
    let crashed = false;
    const consumer: KafkaConsumer = kafka.consumer({ groupId: s.group, sessionTimeout: 6000, heartbeatInterval: 1000, rebalanceTimeout: 10_000, maxWaitTimeInMs: 500 });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      session = `${s.name}.j${++joins}`;
      const partitions = (e.payload.memberAssignment[s.topic] ?? []).map(Number);
      rt.history.append({ f: 'session', process: s.name, group: s.group, session, partitions, timeMs: nowMs() });
    });
    let lastResponseMs = Date.now();
    consumer.on(consumer.events.REQUEST, () => void (lastResponseMs = Date.now()));
    consumer.on(consumer.events.CRASH, (e) => {
      rt.error(e.payload.error);
      // A crash kafkajs will not restart from is ours to restart.
      if (!e.payload.restart) crashed = true;
    });
    try {
      await withTimeout(consumer.connect(), CONNECT_TIMEOUT_MS, 'connect');
      await withTimeout(consumer.subscribe({ topic: s.topic, fromBeginning: true }), CONNECT_TIMEOUT_MS, 'subscribe');
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch, resolveOffset, isRunning, isStale }) => {
          const partition = batch.partition;
          let last = -1;
          for (const m of batch.messages) {
            if (!isRunning() || isStale()) break;
            rt.history.append({ f: 'read', door: 'kafka', process: s.name, group: s.group, session, partition, offset: Number(m.offset), value: m.value?.toString() ?? '', timeMs: nowMs() });
            rt.progress.reads++;
            resolveOffset(m.offset);
            last = Number(m.offset);
          }
          if (last < 0) return;
          const offset = last + 1;
          rt.history.append({ f: 'commit', type: 'invoke', process: s.name, group: s.group, partition, offset, timeMs: nowMs() });
          try {
            await consumer.commitOffsets([{ topic: s.topic, partition, offset: String(offset) }]);
            rt.history.append({ f: 'commit', type: 'ok', process: s.name, group: s.group, partition, offset, timeMs: nowMs() });
          } catch (err) {
            rt.history.append({ f: 'commit', type: 'fail', process: s.name, group: s.group, partition, offset, error: String((err as Error)?.message ?? err).slice(0, 200), timeMs: nowMs() });
            rt.error(err);
            // kafkajs acts on a failed commit as on a failed autoCommit: an unknown member or a rebalance rejoins the group.
            throw err;
          }
        },
      });
      let reads = rt.progress.reads;
      let lastProgressMs = Date.now();
      while (!rt.stopping && !crashed) {
        await rt.sleep(200);
        if (rt.progress.reads !== reads) {
          reads = rt.progress.reads;
          lastProgressMs = Date.now();
        } else if (Date.now() - Math.max(lastProgressMs, lastResponseMs) >= KAFKA_IDLE_MS) {
          rt.error(new Error(`kafkajs consumer read nothing and heard nothing from the server for ${KAFKA_IDLE_MS} ms: rebuilt`));
          break;
        }
      }
    } catch (err) {
      rt.error(err);
    }
    await abandon(() => consumer.disconnect());
    if (!rt.stopping) await rt.sleep(REBUILD_BACKOFF_MS);
  }
}

export async function runSdkConsumer(rt: ClientRuntime): Promise<void> {
  const s = rt.settings;
  const group = `sdk:${s.name}`;
  const partitions = Array.from({ length: s.partitions }, (_, p) => p);
  /** Next offset to read, per partition, once something was read. */
  const positions = new Map<number, number>();
  let sessions = 0;
  while (!rt.stopping) {
    const session = `${s.name}.s${sessions++}`;
    const consumer = new Rdmq({ control: s.control, requestTimeoutMs: 5000 }).consumer();
    let live = true;
    let failed = false;
    let lastProgressMs = Date.now();
    try {
      await withTimeout(consumer.connect(), CONNECT_TIMEOUT_MS, 'connect');
      await consumer.subscribe({ topic: s.topic, fromBeginning: true });
      for (const [partition, offset] of positions) {
        rt.history.append({ f: 'commit', type: 'invoke', process: s.name, group, partition, offset, timeMs: nowMs() });
        rt.history.append({ f: 'commit', type: 'ok', process: s.name, group, partition, offset, timeMs: nowMs() });
        consumer.seek({ topic: s.topic, partition, offset });
      }
      rt.history.append({ f: 'session', process: s.name, group, session, partitions, timeMs: nowMs() });
      await withTimeout(
        consumer.run(
          {
            eachMessage: ({ partition, message }) => {
              // An abandoned session may still deliver: its reads no longer move the position.
              if (!live) return;
              const offset = Number(message.offset);
              rt.history.append({ f: 'read', door: 'sdk', process: s.name, group, session, partition, offset, value: message.value?.toString() ?? '', timeMs: nowMs() });
              rt.progress.reads++;
              positions.set(partition, offset + 1);
              lastProgressMs = Date.now();
            },
          },
          (err) => {
            rt.error(err);
            failed = true;
          },
        ),
        CONNECT_TIMEOUT_MS,
        'run',
      );
      lastProgressMs = Date.now();
      while (!rt.stopping && !failed && Date.now() - lastProgressMs < IDLE_MS) await rt.sleep(200);
    } catch (err) {
      rt.error(err);
    }
    live = false;
    await abandon(() => consumer.disconnect());
    if (!rt.stopping) await rt.sleep(REBUILD_BACKOFF_MS);
  }
}
