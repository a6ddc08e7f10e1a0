// rdmq bench — one harness over every door, measured the same way:
//   --target fastpath            the SDK (one-sided puts and gets)
//   --target gateway             Kafka clients against rdmq's Kafka gateway (--client kafkajs|kcat)
//   --target kafka --bootstrap   the same clients against any Kafka-protocol server
// 1 producer then 1 consumer on 1 partition per batch size, like the poster.
// Each run also measures this machine's limits (memcpy into a region; TCP
// loopback between two processes) and reports every figure against them.
import * as fs from 'fs';
import * as os from 'os';
import { parseArgs } from 'util';
import { ClusterProcess, startCluster } from './cluster';
import { runFastPathPoint, MeasuredPoint } from './fastpath-target';
import { KafkaClient, runKafkaPoint } from './kafka-target';
import { withCpu } from './cpu';
import { measureMemcpyMBps, measureTcpLoopbackMBps } from './limits';
import { BenchResults, cdfOf, reportCommand, ResultPoint, textTable, thin, writeResults } from './report';
import { formatSize, parseSize } from './sizes';

const HELP = `rdmq bench [--target fastpath|gateway|kafka ...] [options]
  --control HOST:PORT      an existing rdmq (default: start one in a temporary directory on /dev/shm)
  --kafka HOST:PORT        the rdmq gateway to use for --target gateway (default: the started rdmq's)
  --bootstrap HOST:PORT    a Kafka-protocol server for --target kafka
  --client kafkajs|kcat    Kafka client(s) for gateway/kafka targets (repeatable; default both)
  --batch-sizes LIST       record batch sizes (default 8K,64K,1M,8M)
  --bytes SIZE             bytes to produce per batch size (default 2G fast path, 256M Kafka clients)
  --record-size SIZE       value bytes per record (default 1K)
  --acks N                 Kafka acks for gateway/kafka targets (default -1)
  --mode exclusive|shared  fast-path producer mode (default exclusive)
  --staging-depth N        fast path: batches between stage and commit at once (default 8)
  --partitions N           fast path: partitions of the topic (default 1)
  --producers N            fast path: producers, each with its own connection (default 1; exclusive mode needs N <= partitions)
  --commit-every N         fast path: commit after N batches (default 1)
  --commit-delay-us US     fast path: ... or after US microseconds (default 0)
  --durability LEVEL       for the started rdmq: none|flush|sync (default flush)
  --verify crc|framing     for the started rdmq: check each committed batch's CRC32C, or its framing only (default crc)
  --max-seconds S          cap on each producer phase (default 20)
  --json FILE              the measured points as JSON
  --out DIR                results.json, results.md and plots (PNG and SVG)
rdmq bench report DIR [DIR...] [--out DIR]   redraw and compare saved runs`;

function progressBar(label: string): (done: number, total: number) => void {
  let last = 0;
  return (done, total) => {
    const now = Date.now();
    if (!process.stderr.isTTY || now - last < 100) return;
    last = now;
    const width = 30;
    const filled = Math.round((done / total) * width);
    process.stderr.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${((done / total) * 100).toFixed(0)}%`);
  };
}

function nonNegativeInt(name: string, text: string | undefined, dflt: number): number {
  const v = text === undefined ? dflt : Number(text);
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} must be a non-negative integer, got ${text}`);
  return v;
}

export async function runBench(argv: string[]): Promise<void> {
  if (argv[0] === 'report') {
    const { values, positionals } = parseArgs({ args: argv.slice(1), options: { out: { type: 'string' } }, allowPositionals: true, strict: true });
    return reportCommand(positionals, values.out);
  }
  const { values } = parseArgs({
    args: argv,
    options: {
      target: { type: 'string', multiple: true },
      client: { type: 'string', multiple: true },
      control: { type: 'string' },
      kafka: { type: 'string' },
      bootstrap: { type: 'string' },
      'batch-sizes': { type: 'string' },
      bytes: { type: 'string' },
      'record-size': { type: 'string' },
      acks: { type: 'string' },
      mode: { type: 'string' },
      'staging-depth': { type: 'string' },
      partitions: { type: 'string' },
      producers: { type: 'string' },
      'commit-every': { type: 'string' },
      'commit-delay-us': { type: 'string' },
      durability: { type: 'string' },
      verify: { type: 'string' },
      'max-seconds': { type: 'string' },
      json: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  const targets = values.target ?? ['fastpath'];
  for (const t of targets) if (!['fastpath', 'gateway', 'kafka'].includes(t)) throw new Error(`unknown --target ${t}; allowed: fastpath, gateway, kafka`);
  if (targets.includes('kafka') && !values.bootstrap) throw new Error('--target kafka needs --bootstrap HOST:PORT');
  const clients = (values.client ?? ['kafkajs', 'kcat']) as KafkaClient[];
  for (const c of clients) if (c !== 'kafkajs' && c !== 'kcat') throw new Error(`unknown --client ${c}; allowed: kafkajs, kcat`);
  const sizes = (values['batch-sizes'] ?? '8K,64K,1M,8M').split(',').map(parseSize);
  const recordBytes = parseSize(values['record-size'] ?? '1K');
  const mode = values.mode ?? 'exclusive';
  if (mode !== 'exclusive' && mode !== 'shared') throw new Error(`--mode must be exclusive or shared, got ${mode}`);
  const durability = values.durability ?? 'flush';
  if (!['none', 'flush', 'sync'].includes(durability)) throw new Error(`--durability must be none, flush or sync, got ${durability}`);
  const acks = Number(values.acks ?? -1);
  if (![-1, 0, 1].includes(acks)) throw new Error(`--acks must be -1, 0 or 1, got ${values.acks}`);
  const maxSeconds = Number(values['max-seconds'] ?? 20);
  const fastBytes = parseSize(values.bytes ?? '2G');
  const kafkaBytes = parseSize(values.bytes ?? '256M');

  let cluster: ClusterProcess | undefined;
  let control = values.control;
  let gatewayAddress = values.kafka;
  const needRdmq = targets.includes('fastpath') || (targets.includes('gateway') && !gatewayAddress);
  if (needRdmq && control === undefined) {
    // Room for one batch size at a time (topics are deleted between sizes) plus open segments.
    const segment = Math.max(64 << 20, 2 ** Math.ceil(Math.log2(Math.max(...sizes) + 8192)));
    const region = Math.ceil((Math.min(Math.max(fastBytes, kafkaBytes), 8 * 1024 ** 3) * 1.2 + 4 * segment) / segment) * segment + 8192;
    process.stderr.write(`starting rdmq (region ${formatSize(region)}, segments ${formatSize(segment)}, durability ${durability}) ...\n`);
    cluster = await startCluster({ durability: durability as 'none' | 'flush' | 'sync', regionSize: String(region), segmentSize: String(segment), extraArgs: values.verify ? ['--verify', values.verify] : [] });
    control = cluster.control;
    if (targets.includes('gateway') && !gatewayAddress) {
      if (!cluster.kafkaPort) throw new Error('the started rdmq has no Kafka gateway');
      gatewayAddress = `127.0.0.1:${cluster.kafkaPort}`;
    }
  }

  const results: BenchResults = { startedAt: new Date().toISOString(), machine: { cpus: os.cpus().length, memoryBytes: os.totalmem(), node: process.version }, points: [], latency: [] };
  const fastOptions = {
    stagingDepth: Math.max(1, nonNegativeInt('staging-depth', values['staging-depth'], 8)),
    commitEveryBatches: Math.max(1, nonNegativeInt('commit-every', values['commit-every'], 1)),
    commitDelayUs: nonNegativeInt('commit-delay-us', values['commit-delay-us'], 0),
    partitions: Math.max(1, nonNegativeInt('partitions', values.partitions, 1)),
    producers: Math.max(1, nonNegativeInt('producers', values.producers, 1)),
  };
  /** Runs one point with CPU accounting, records it with its limits and says what it measured. */
  const measure = async (
    label: string,
    serverPid: number | undefined,
    point: Pick<ResultPoint, 'target' | 'mode' | 'client' | 'batchSize'>,
    limits: { memcpyMBps: number; tcpLoopbackMBps?: number },
    run: (onProgress: (done: number, total: number) => void) => Promise<MeasuredPoint>,
  ): Promise<void> => {
    const { value: measured, clientCpuSeconds, serverCpuSeconds } = await withCpu(serverPid, () => run(progressBar(label)));
    if (process.stderr.isTTY) process.stderr.write('\n');
    const gb = (2 * measured.producedBytes) / 1e9;
    results.points.push({
      ...point,
      producerMBps: measured.producerMBps,
      consumerMBps: measured.consumerMBps,
      latencyUs: measured.latencyUs,
      ...limits,
      cpuSecondsPerGB: { client: clientCpuSeconds / gb, server: serverCpuSeconds / gb },
    });
    const series = `${point.target === 'fastpath' ? 'fastpath' : `${point.target}/${point.client}`} ${formatSize(point.batchSize)}`;
    if (measured.latencySeries.length > 0) results.latency.push({ label: series, overTime: thin(measured.latencySeries), cdf: cdfOf(measured.samples ?? []) });
    process.stderr.write(`${label}: ${measured.producerMBps.toFixed(0)} MB/s produce, ${measured.consumerMBps.toFixed(0)} MB/s consume\n`);
  };
  try {
    for (const batchBytes of sizes) {
      const memcpyMBps = measureMemcpyMBps(batchBytes);
      const needsTcp = targets.some((t) => t !== 'fastpath');
      const limits = { memcpyMBps, tcpLoopbackMBps: needsTcp ? await measureTcpLoopbackMBps(Math.min(batchBytes, 1 << 20)) : undefined };
      if (targets.includes('fastpath')) {
        await measure(`fastpath ${formatSize(batchBytes).padStart(4)}`, cluster?.child.pid, { target: 'fastpath', mode, client: 'rdmq-sdk', batchSize: batchBytes }, limits, (onProgress) =>
          runFastPathPoint({ control: control!, batchBytes, recordBytes, totalBytes: fastBytes, maxSeconds, mode, ...fastOptions, onProgress }),
        );
      }
      for (const target of targets.filter((t) => t !== 'fastpath')) {
        const bootstrap = target === 'kafka' ? values.bootstrap! : gatewayAddress!;
        const serverPid = target === 'gateway' ? cluster?.child.pid : undefined;
        for (const client of clients) {
          await measure(`${target}/${client} ${formatSize(batchBytes).padStart(4)}`, serverPid, { target, mode: `acks=${acks}`, client, batchSize: batchBytes }, limits, (onProgress) =>
            runKafkaPoint({ bootstrap, client, batchBytes, recordBytes, totalBytes: kafkaBytes, maxSeconds, acks, onProgress }),
          );
        }
      }
    }
  } finally {
    await cluster?.stop();
  }
  process.stdout.write(textTable(results.points) + '\n');
  if (values.json) fs.writeFileSync(values.json, JSON.stringify(results.points.map(({ cpuSecondsPerGB: _cpu, ...point }) => point), null, 2) + '\n');
  if (values.out) {
    await writeResults(values.out, results);
    process.stdout.write(`results in ${values.out}: results.json, results.md, producer-throughput, consumer-throughput, latency-over-time, latency-cdf (.png, .svg)\n`);
  }
}
