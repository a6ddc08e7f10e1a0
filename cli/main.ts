// rdmq — one command for every role and tool.
//
//   rdmq start [--data DIR] [--control HOST:PORT] [--fastpath HOST:PORT] [--durability none|flush|sync] ...
//   rdmq gateway --control HOST:PORT --kafka HOST:PORT  one more Kafka gateway for a broker
//   rdmq topics create|list|delete|describe [NAME] [--partitions N] [--control HOST:PORT]
//   rdmq status [--json] [--control HOST:PORT]          the cluster at a glance
//   rdmq corruption list|skip ...                      fenced (corrupt) ranges and the operator's decision on them
//   rdmq metadata check|truncate --data DIR ...        the broker's metadata log, offline
//   rdmq produce TOPIC [--mode shared|exclusive]      (one message per stdin line)
//   rdmq consume TOPIC [--from-beginning] [--max-messages N]
//   rdmq cluster start|status|stop|restart-member     a local multi-process cluster (cli/cluster.ts)
//   rdmq bench ...                                     (see `rdmq bench --help`)
import * as path from 'path';
import * as readline from 'readline';
import { parseArgs } from 'util';
import { humanBytes, renderTable } from '../bench/sizes';
import { Rdmq } from '../rdma-client';
import { Connection } from '../rdma-client/connection';
import { checkMetadataLog, truncateMetadataLog } from '../broker';
import { ConfigError, loadServerConfig } from './config';
import { startAll, startBroker, startGatewayNode, startStorage, withGateway } from './node';

const USAGE = `usage:
  rdmq start [--config FILE] [--data DIR] [--control HOST:PORT] [--fastpath HOST:PORT] [--kafka HOST:PORT]
             [--durability none|flush|sync] [--region-size SIZE] [--segment-size SIZE (default segment.bytes)] [--lease-timeout-ms MS]
             [--retention-check-ms MS] [--metrics HOST:PORT] [--verify crc|framing]
             [--advertised-host HOST]      the host clients are told for the fast path and Kafka (default: the listen host)
             [--auto-create-topics true|false]   create topics Kafka clients ask for (default true)
             [--max-buffered-request-bytes SIZE]  Kafka request bytes held at once over all connections (default 256M,
                                                  no less than the 100M frame bound); reading stops there
             [--max-fetch-memory-bytes SIZE]      Kafka Fetch response bytes held at once over all connections (default 256M)
  rdmq storage [same options]                       the storage node alone (--control is its gRPC address)
  rdmq broker --storage HOST:PORT [same options]     the broker and Kafka gateway, using that storage node
  rdmq gateway --control HOST:PORT [--kafka HOST:PORT] [--node-id N] [--metrics HOST:PORT] [--advertised-host HOST]
               [--max-buffered-request-bytes SIZE] [--max-fetch-memory-bytes SIZE]
                                                    one more Kafka gateway for that broker (listed in Metadata while it runs)
  rdmq topics create NAME [--partitions N] | list | delete NAME | describe NAME   [--control HOST:PORT]
  rdmq status [--json] [--control HOST:PORT]          the cluster at a glance (fenced ranges included)
  rdmq corruption list [--control HOST:PORT]          committed ranges that failed their check at recovery (fenced:
                                                    readers get CORRUPT_MESSAGE there; nothing was cut)
  rdmq corruption skip --topic T --partition P --segment S [--position BYTE] [--control HOST:PORT]
                                                    replaces the fenced ranges of segment S (or the one at BYTE) with a
                                                    skip marker over exactly their offsets: readers step over them and
                                                    offsets stay contiguous; their records are gone for good
  rdmq metadata check --data DIR                      reads the broker's metadata log, says whether it is intact
  rdmq metadata truncate --data DIR --at BYTE         cuts the log at a corrupt record (the broker refuses to start on
                                                    one); the records from there on are lost; a copy is kept beside it
  rdmq produce TOPIC [--mode shared|exclusive] [--control HOST:PORT]    lines from stdin
  rdmq consume TOPIC [--from-beginning] [--max-messages N] [--control HOST:PORT]
  rdmq cluster start|status|stop|restart-member ...   a local multi-process cluster (rdmq cluster --help)
  rdmq bench --target fastpath [...]      (rdmq bench --help)`;

function fail(message: string): never {
  process.stderr.write(`rdmq: ${message}\n`);
  process.exit(2);
}

const log = (message: string): void => void process.stderr.write(`${new Date().toISOString()} ${message}\n`);

type Role = 'start' | 'storage' | 'broker' | 'gateway';

async function serve(role: Role, argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      data: { type: 'string' },
      control: { type: 'string' },
      fastpath: { type: 'string' },
      kafka: { type: 'string' },
      durability: { type: 'string' },
      'region-size': { type: 'string' },
      'segment-size': { type: 'string' },
      'lease-timeout-ms': { type: 'string' },
      'retention-check-ms': { type: 'string' },
      storage: { type: 'string' },
      metrics: { type: 'string' },
      verify: { type: 'string' },
      'node-id': { type: 'string' },
      'advertised-host': { type: 'string' },
      'auto-create-topics': { type: 'string' },
      'max-buffered-request-bytes': { type: 'string' },
      'max-fetch-memory-bytes': { type: 'string' },
    },
    strict: true,
  });
  if (values['node-id'] !== undefined && role !== 'gateway') fail('--node-id is an option of rdmq gateway');
  const config = loadServerConfig(
    {
      data: values.data,
      control: values.control,
      fastpath: values.fastpath,
      kafka: values.kafka,
      durability: values.durability,
      regionSize: values['region-size'],
      segmentSize: values['segment-size'],
      leaseTimeoutMs: values['lease-timeout-ms'],
      retentionCheckMs: values['retention-check-ms'],
      storage: values.storage,
      metrics: values.metrics,
      verify: values.verify,
      advertisedHost: values['advertised-host'],
      autoCreateTopics: values['auto-create-topics'],
      maxBufferedRequestBytes: values['max-buffered-request-bytes'],
      maxFetchMemoryBytes: values['max-fetch-memory-bytes'],
    },
    values.config,
  );
  const host = (address: string): string => address.slice(0, address.lastIndexOf(':'));
  let node: { close(): Promise<void> };
  let ready: object;
  if (role === 'gateway') {
    const nodeId = values['node-id'] === undefined ? undefined : Number(values['node-id']);
    if (nodeId !== undefined && !(Number.isInteger(nodeId) && nodeId >= 0 && nodeId <= 0x7fffffff)) fail(`--node-id must be an integer 0..2147483647, got ${values['node-id']}`);
    const gateway = await startGatewayNode(config, { nodeId }, log);
    log(
      `rdmq gateway ${gateway.nodeId}: Kafka on ${host(config.kafka)}:${gateway.kafkaPort}, broker at ${config.control}, ` +
        `metrics on http://${host(config.metrics)}:${gateway.metricsPort}/metrics`,
    );
    node = gateway;
    ready = { ready: true, kafkaPort: gateway.kafkaPort, metricsPort: gateway.metricsPort, nodeId: gateway.nodeId };
  } else {
    const server =
      role === 'start' ? await startAll(config, log) : role === 'storage' ? await startStorage(config, log) : await withGateway(await startBroker(config, log), config, log);
    const what = role === 'start' ? 'storage node + broker + Kafka gateway' : role === 'storage' ? 'storage node' : `broker + Kafka gateway (storage node at ${config.storage})`;
    const kafkaPort = 'kafkaPort' in server ? server.kafkaPort : undefined;
    log(
      `rdmq ${role}: ${what}, data in ${config.data} (durability ${config.durability}); ` +
        `control gRPC on ${host(config.control)}:${server.controlPort}, fast path (UCX) on ${host(config.fastpath)}:${server.fastpathPort}, ` +
        `metrics on http://${host(config.metrics)}:${server.metricsPort}/metrics` +
        (kafkaPort ? `, Kafka on ${host(config.kafka)}:${kafkaPort}` : ''),
    );
    node = server;
    ready = { ready: true, controlPort: server.controlPort, fastpathPort: server.fastpathPort, metricsPort: server.metricsPort, kafkaPort };
  }
  process.stdout.write(JSON.stringify(ready) + '\n');
  const shutdown = (signal: string): void => {
    log(`${signal}: shutting down`);
    node.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

async function topics(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { control: { type: 'string' }, partitions: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  const [action, name] = positionals;
  const admin = new Rdmq({ control: values.control }).admin();
  await admin.connect();
  try {
    if (action === 'create') {
      if (!name) fail('topics create needs a topic name');
      const partitions = Number(values.partitions ?? 1);
      if (!Number.isInteger(partitions) || partitions < 1) fail(`--partitions must be a positive integer, got ${values.partitions}`);
      await admin.createTopics({ topics: [{ topic: name, numPartitions: partitions }] });
      process.stdout.write(`created topic ${name} with ${partitions} partition(s)\n`);
    } else if (action === 'list') {
      for (const t of await admin.listTopics()) process.stdout.write(`${t}\n`);
    } else if (action === 'delete') {
      if (!name) fail('topics delete needs a topic name');
      await admin.deleteTopics({ topics: [name] });
      process.stdout.write(`deleted topic ${name}\n`);
    } else if (action === 'describe') {
      if (!name) fail('topics describe needs a topic name');
      const t = await admin.describeTopic(name);
      process.stdout.write(`topic ${t.name} (id ${t.topicId})\n`);
      for (const p of t.partitions) {
        process.stdout.write(`  partition ${p.partition}: offsets ${p.logStartOffset}..${p.highWatermark}, ${p.segments} segment(s), ${p.committedBytes} bytes\n`);
      }
    } else {
      fail(`unknown topics action "${action ?? ''}"; allowed: create, list, delete, describe`);
    }
  } finally {
    await admin.disconnect();
  }
}

async function produce(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { control: { type: 'string' }, mode: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  const topic = positionals[0] ?? fail('produce needs a topic');
  const mode = values.mode ?? 'shared';
  if (mode !== 'shared' && mode !== 'exclusive') fail(`--mode must be shared or exclusive, got ${mode}`);
  const producer = new Rdmq({ control: values.control }).producer({ mode });
  await producer.connect();
  let count = 0;
  const lines = readline.createInterface({ input: process.stdin });
  let pending: string[] = [];
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    await producer.send({ topic, messages: batch.map((value) => ({ value })) });
    count += batch.length;
  };
  for await (const line of lines) {
    pending.push(line);
    if (pending.length >= 1000) await flush();
  }
  await flush();
  await producer.disconnect();
  process.stderr.write(`produced ${count} message(s) to ${topic}\n`);
}

async function consume(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { control: { type: 'string' }, 'from-beginning': { type: 'boolean' }, 'max-messages': { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  const topic = positionals[0] ?? fail('consume needs a topic');
  const max = values['max-messages'] === undefined ? Infinity : Number(values['max-messages']);
  if (!(max > 0)) fail(`--max-messages must be a positive number, got ${values['max-messages']}`);
  const consumer = new Rdmq({ control: values.control }).consumer();
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: values['from-beginning'] === true });
  let seen = 0;
  await new Promise<void>((resolve, reject) => {
    void consumer
      .run(
        {
          eachMessage: ({ message }) => {
            if (seen >= max) return;
            process.stdout.write(`${message.value?.toString() ?? ''}\n`);
            if (++seen >= max) resolve();
          },
        },
        reject,
      )
      .catch(reject);
    process.once('SIGINT', () => resolve());
  });
  await consumer.disconnect();
}

async function status(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { control: { type: 'string' }, json: { type: 'boolean' } }, strict: true });
  const connection = await Connection.open({ control: values.control });
  try {
    const s = await connection.call<ClusterStatus>('getStatus', {});
    if (values.json) {
      process.stdout.write(JSON.stringify(s, null, 2) + '\n');
      return;
    }
    const mib = (n: number | string): string => humanBytes(Number(n));
    process.stdout.write(
      `cluster ${s.cluster.clusterId}  up ${(Number(s.uptimeMs) / 1000).toFixed(0)} s  durability ${s.cluster.durability}\n` +
        `fast path ${s.cluster.fastpathAddress} (storage ${s.cluster.storageFastpathAddress})  clients ${s.fastpathClients}\n` +
        `Kafka gateways ${s.kafkaGateways.length === 0 ? 'none' : s.kafkaGateways.map((g) => `${g.nodeId}@${g.address}`).join(', ')}\n` +
        `storage ${s.storageSegments} segments in ${mib(s.storageAllocatedBytes)}, ${mib(s.storageFreeBytes)} free, ${mib(s.storageUsedBytes)} committed\n\n`,
    );
    const rows = s.topics.flatMap((t) => t.partitions.map((p) => [t.name, p.partition, p.logStartOffset, p.highWatermark, p.segments, mib(p.committedBytes)]));
    process.stdout.write(renderTable(['topic', 'partition', 'log start', 'high watermark', 'segments', 'committed'], rows) + '\n');
    if (s.fencedRanges.length > 0 || s.storageUnreadableSlots.length > 0) process.stdout.write(`\n${describeDamage(s.fencedRanges, s.storageUnreadableSlots)}`);
  } finally {
    await connection.close();
  }
}

interface FencedRangeStatus {
  topic: string;
  partition: number;
  segmentId: string;
  lost: boolean;
  startPosition: number;
  endPosition: number;
  baseOffset: string;
  endOffset: string;
  reason: string;
}

function describeDamage(ranges: FencedRangeStatus[], unreadableSlots: string[]): string {
  const lines = [`CORRUPT: ${ranges.length} fenced range(s); readers get CORRUPT_MESSAGE there until 'rdmq corruption skip':`];
  for (const f of ranges) {
    const bytes = f.lost ? 'whole segment (header unreadable)' : `bytes [${f.startPosition}, ${f.endPosition})`;
    lines.push(`  ${f.topic}-${f.partition} offsets [${f.baseOffset}, ${f.endOffset}) segment ${f.segmentId} ${bytes}: ${f.reason}`);
  }
  for (const u of unreadableSlots) lines.push(`  storage ${u}`);
  return lines.join('\n') + '\n';
}

async function corruption(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { control: { type: 'string' }, topic: { type: 'string' }, partition: { type: 'string' }, segment: { type: 'string' }, position: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  const [action] = positionals;
  if (action !== 'list' && action !== 'skip') fail(`unknown corruption action "${action ?? ''}"; allowed: list, skip`);
  const integer = (name: string, text: string | undefined): number => {
    const n = Number(text);
    if (text === undefined || !/^\d+$/.test(text) || !Number.isSafeInteger(n)) fail(`corruption skip needs --${name} as a non-negative integer, got ${text ?? 'nothing'}`);
    return n;
  };
  const connection = await Connection.open({ control: values.control });
  try {
    if (action === 'list') {
      const s = await connection.call<ClusterStatus>('getStatus', {});
      process.stdout.write(s.fencedRanges.length === 0 && s.storageUnreadableSlots.length === 0 ? 'no fenced ranges\n' : describeDamage(s.fencedRanges, s.storageUnreadableSlots));
      return;
    }
    const topic = values.topic ?? fail('corruption skip needs --topic');
    const request = {
      topic,
      partition: integer('partition', values.partition),
      segmentId: String(integer('segment', values.segment)),
      startPosition: values.position === undefined ? -1 : integer('position', values.position),
    };
    const { skipped } = await connection.call<{ skipped: FencedRangeStatus[] }>('skipFencedRanges', request);
    for (const f of skipped) {
      process.stdout.write(`skipped ${topic}-${request.partition} offsets [${f.baseOffset}, ${f.endOffset}) segment ${f.segmentId} bytes [${f.startPosition}, ${f.endPosition}): a skip marker now covers them\n`);
    }
  } finally {
    await connection.close();
  }
}

async function metadata(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, options: { data: { type: 'string' }, at: { type: 'string' } }, allowPositionals: true, strict: true });
  const [action] = positionals;
  const dir = path.join(values.data ?? fail(`metadata ${action ?? ''} needs --data DIR (the data directory of rdmq start or rdmq broker)`), 'meta');
  if (action === 'check') {
    const found = await checkMetadataLog(dir);
    process.stdout.write(`${found.message}\n`);
    if (!found.intact) process.exitCode = 1;
  } else if (action === 'truncate') {
    const at = Number(values.at);
    if (values.at === undefined || !/^\d+$/.test(values.at) || !Number.isSafeInteger(at)) fail(`metadata truncate needs --at BYTE (the position the broker's refusal named), got ${values.at ?? 'nothing'}`);
    process.stdout.write(`${await truncateMetadataLog(dir, at)}\n`);
  } else {
    fail(`unknown metadata action "${action ?? ''}"; allowed: check, truncate`);
  }
}

interface ClusterStatus {
  cluster: { clusterId: string; fastpathAddress: string; storageFastpathAddress: string; durability: string };
  topics: { name: string; partitions: { partition: number; logStartOffset: string; highWatermark: string; segments: number; committedBytes: string }[] }[];
  storageSegments: number;
  storageAllocatedBytes: number | string;
  storageFreeBytes: number | string;
  storageUsedBytes: string;
  fastpathClients: number;
  uptimeMs: string;
  kafkaGateways: { nodeId: number; address: string }[];
  fencedRanges: FencedRangeStatus[];
  storageUnreadableSlots: string[];
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  switch (command) {
    case 'start':
    case 'storage':
    case 'broker':
    case 'gateway':
      return serve(command, rest);
    case 'topics':
      return topics(rest);
    case 'status':
      return status(rest);
    case 'corruption':
      return corruption(rest);
    case 'metadata':
      return metadata(rest);
    case 'produce':
      return produce(rest);
    case 'consume':
      return consume(rest);
    case 'cluster': {
      const { clusterCommand } = await import('./cluster-command');
      return clusterCommand(rest);
    }
    case 'bench': {
      const { runBench } = await import('../bench/bench');
      return runBench(rest);
    }
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(`${USAGE}\n`);
      return;
    default:
      fail(`unknown command "${command}"\n${USAGE}`);
  }
}

main().catch((err: Error & { code?: string }) => {
  if (err instanceof ConfigError || err.name === 'TypeError' && err.code?.startsWith('ERR_PARSE_ARGS')) fail(err.message);
  fail(err.message);
});
