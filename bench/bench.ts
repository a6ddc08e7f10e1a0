// rdmq bench — one harness over every door, measured the same way:
//   --target fastpath            the SDK (one-sided puts and gets)
//   --target gateway             Kafka clients against rdmq's Kafka gateway (--client kafkajs|kcat)
//   --target kafka --bootstrap   the same clients against any Kafka-protocol server
// Per batch size and door, each workload (workload.ts) runs on a fresh topic:
// by default producers alone, then consumers alone over what they wrote, like
// the poster; --workload e2e runs both at once and measures end-to-end latency.
// Each run also measures this machine's limits (memcpy into a region; TCP
// loopback between two processes) and reports every figure against them.
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs } from 'util';
import { ClientDefaultsRow, clientDefaultsTable, DefaultsClient, measureClientDefaults, parseDefaultsClients } from './client-defaults';
import { BREAKDOWN_WARMUP_DEFAULT, BreakdownResult, breakdownTable, brokerTraceSetup, measureBreakdown, STAGES } from './breakdown';
import { drawBreakdown } from './plots';
import { startBenchCluster } from './local-cluster';
import { Layout, parseLayouts, startLayout } from './layouts';
import { Door } from './door';
import type { ServerPids } from './cpu';
import { describeMachine, machineLine } from './machine';
import { FastPathApi, fastPathClient, FastPathDoor } from './fastpath-target';
import { KafkaClient, KafkaSecurity, openKafkaDoor } from './kafka-target';
import { createUser, makeCertificates, TestCertificates, tlsFlags } from '../compat-tests/testing/tls';
import { LatencyRecorder, LatencySummary } from './latency';
import { CEILING_RUNS, measureKafkajsConsumeCeilingMBps, measureKcatCeilingMBps, measureKcatConsumeCeilingMBps, measureMemcpyMBps, measureRoundTripFloor, measureTcpLoopbackMBps, medianOf, ROUND_TRIPS_DEFAULT } from './limits';
import { measureProcessCopyMBps, ProcessCopyMBps } from './process-copy';
import { BenchResults, LatencyKind, LatencyTrace, layoutComparisonText, reportCommand, ResultPoint, seriesName, textTable, thin, writeResults } from './report';
import { formatSize, humanBytes, parseSize } from './sizes';
import { MeasuredPoint, parseWorkloads, runWorkload } from './workload';
import { ProducerMode, STAGING_DEPTH_DEFAULT } from '../rdma-client/producer';

const HELP = `rdmq bench [--target fastpath|gateway|kafka ...] [options]
  --control HOST:PORT      an existing rdmq (default: start one in a temporary directory on /dev/shm)
  --kafka HOST:PORT        the rdmq gateway to use for --target gateway (default: the started rdmq's)
  --bootstrap HOST:PORT    a Kafka-protocol server for --target kafka
  --client kafkajs|kcat    Kafka client(s) for gateway/kafka targets (repeatable; default both)
  --workload LIST          produce, consume, e2e or all (repeatable or comma-separated; default produce,consume):
                             produce,consume  producers alone, then consumers alone over what they wrote (one row)
                             produce          producers alone;  consume  consumers alone over a topic filled first
                             e2e              producers and consumers at once: end-to-end latency, produce to receive
  --batch-sizes LIST       record batch sizes (default 8K,64K,1M,8M)
  --bytes SIZE             bytes to produce per batch size (default 2G fast path, 256M Kafka clients)
  --record-size SIZE       value bytes per record (default 1K; at least 24 for e2e)
  --acks N                 Kafka acks for gateway/kafka targets (default -1)
  --security plaintext|sasl_ssl  for the started rdmq: Kafka clients go through a SASL_SSL listener (TLS, a
                           SCRAM-SHA-512 user made for the run) instead of PLAINTEXT, and fast-path clients
                           authenticate as that user (default plaintext)
  --partitions N           partitions of the benchmark topic (default 1)
  --consumers N            consumers sharing the partitions (default 1): fast path, a share each (partitions i, i+N, ...);
                           kafkajs and kcat, members of one consumer group
  --fanout N               fast path: N independent readers, each reading every partition in full (like N consumer
                           groups; each of --consumers consumers), each delivering every record once (default 1);
                           with replication each reader prefers another copy: read bytes per replica and per reader
  --mode exclusive|shared  fast-path producer mode (default exclusive)
  --staging-depth N        fast path: the SDK's stagingDepth, and sends in flight per producer (default the SDK's:
                           256 exclusive, 32 shared; fewer where the SDK's stagingBytes, 8 MiB, admits fewer: 8 of 1 MiB)
  --producers N            fast path: producers, each with its own connection (default 1; exclusive mode needs N <= partitions)
  --commit-every N         fast path: commit after N batches (default 1)
  --commit-delay-us US     fast path: ... or after US microseconds (default 0)
  --commits-in-flight N    fast path: commits of one partition on their way at once; batches ready meanwhile
                           go together in the next commit (default 2)
  --storage-nodes N        for the started rdmq: N storage nodes (default 1; above 1 the bench runs rdmq cluster start)
  --replication R          replication factor of the benchmark topics, rdmq's and Kafka's (default: the broker's; Kafka 1)
  --netns                  for the started rdmq: each member in a network namespace of its own (root), UCX over TCP
                           between them instead of shared memory (rdmq cluster start --netns)
  --durability LEVEL       for the started rdmq: none|flush|sync (default flush)
  --verify crc|framing     for the started rdmq: check each committed batch's CRC32C, or its framing only (default crc)
  --prefault-region yes|no for the started rdmq: fault its whole region in before it is ready (rdmq --prefault-region),
                           so the figures are the steady state of a running node, not the first touch of fresh pages,
                           which is several times slower on a shadow-paging VM (default yes)
  --max-seconds S          cap on each producer phase (default 20)
  --warmup-seconds S       before a door's first measured point, S seconds of producing at the first batch size, then reading it back,
                           not recorded (default 3; 0: none): a fresh process's JIT is still compiling the hot path, and
                           the first thousands of publishes run several times slower than the rest
  --api LIST               fast-path rows (comma-separated; default raw,records): raw = "sdk raw batches" (producer.write
                           of one prebuilt batch, eachRawBatch); records = "sdk send/eachMessage" (send() of records:
                           encoding, CRC, partitioning; eachMessage: decoding)
  --layout LIST            the rdmq the bench starts (comma-separated; default start): start = rdmq start (one process);
                           apart = rdmq storage + rdmq broker + rdmq gateway (as docker compose runs them); both: one table,
                           then each door's apart / start
  --rounds N               start each --layout N times, alternately (start, apart, start, ...), each warmed up anew:
                           every point is kept, and apart / start compares each door's medians (default 1)
  --breakdown              instead of the sweep: per-stage latency (p50/p99/mean) of --publishes N publishes (default 1000)
                           of one batch (the first --batch-sizes, default 8K) through send(), traced in the client and in
                           the broker (hooks off unless RDMQ_PUBLISH_TRACE=1; the bench turns them on for the rdmq it starts),
                           after --warmup N untraced publishes (default 50; a fresh rdmq's commit path runs several times
                           slower until its JIT has warmed, ~2000-3000 publishes here: give that many to see steady state);
                           beside it, this machine's floor: 100000 round trips between two processes in native code
  --client-defaults        instead of the sweep: kcat, kafkajs, kafka-python, confluent-kafka, sarama (--client to choose) at their defaults,
                           acks=all, produce --bytes (default 200M) of --record-size records, then read them back; MB/s,
                           CPU per GB and the gateway's requests per phase; also against Kafka when --bootstrap is given.
                           Each client first produces and reads back min(--bytes, 32M) unrecorded (none with --warmup-seconds 0)
  --json FILE              the measured points as JSON
  --out DIR                results.json, results.md and plots (PNG and SVG); breakdown.* or client-defaults.* for those modes
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

/** What each client of --client-defaults produces and reads back unrecorded before its measured phases. */
const CLIENT_WARMUP_BYTES = 32 << 20;
/** Seconds each door runs unrecorded before its first point (--warmup-seconds). */
const WARMUP_SECONDS_DEFAULT = 3;

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
      workload: { type: 'string', multiple: true },
      control: { type: 'string' },
      kafka: { type: 'string' },
      bootstrap: { type: 'string' },
      'batch-sizes': { type: 'string' },
      bytes: { type: 'string' },
      'record-size': { type: 'string' },
      acks: { type: 'string' },
      security: { type: 'string' },
      mode: { type: 'string' },
      'staging-depth': { type: 'string' },
      rounds: { type: 'string' },
      partitions: { type: 'string' },
      producers: { type: 'string' },
      consumers: { type: 'string' },
      fanout: { type: 'string' },
      'commit-every': { type: 'string' },
      'commit-delay-us': { type: 'string' },
      'commits-in-flight': { type: 'string' },
      durability: { type: 'string' },
      'storage-nodes': { type: 'string' },
      replication: { type: 'string' },
      netns: { type: 'boolean' },
      verify: { type: 'string' },
      'prefault-region': { type: 'string' },
      'max-seconds': { type: 'string' },
      'warmup-seconds': { type: 'string' },
      json: { type: 'string' },
      out: { type: 'string' },
      layout: { type: 'string', multiple: true },
      api: { type: 'string', multiple: true },
      breakdown: { type: 'boolean' },
      publishes: { type: 'string' },
      warmup: { type: 'string' },
      'client-defaults': { type: 'boolean' },
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
  const clients = (values.client ?? ['kafkajs', 'kcat']).flatMap((c) => c.split(',')).map((c) => c.trim()) as KafkaClient[];
  if (!values['client-defaults']) for (const c of clients) if (c !== 'kafkajs' && c !== 'kcat') throw new Error(`unknown --client ${c}; allowed: kafkajs, kcat`);
  const workloads = parseWorkloads(values.workload);
  const sizes = (values['batch-sizes'] ?? '8K,64K,1M,8M').split(',').map(parseSize);
  const recordBytes = parseSize(values['record-size'] ?? '1K');
  const mode = values.mode ?? 'exclusive';
  if (mode !== 'exclusive' && mode !== 'shared') throw new Error(`--mode must be exclusive or shared, got ${mode}`);
  const durability = values.durability ?? 'flush';
  if (!['none', 'flush', 'sync'].includes(durability)) throw new Error(`--durability must be none, flush or sync, got ${durability}`);
  const acks = Number(values.acks ?? -1);
  if (![-1, 0, 1].includes(acks)) throw new Error(`--acks must be -1, 0 or 1, got ${values.acks}`);
  const maxSeconds = Number(values['max-seconds'] ?? 20);
  const warmupSeconds = Number(values['warmup-seconds'] ?? WARMUP_SECONDS_DEFAULT);
  if (!(warmupSeconds >= 0)) throw new Error(`--warmup-seconds must be a number of seconds, 0 or more, got ${values['warmup-seconds']}`);
  const prefaultRegion = yesOrNo('--prefault-region', values['prefault-region'] ?? 'yes');
  const fastBytes = parseSize(values.bytes ?? '2G');
  const kafkaBytes = parseSize(values.bytes ?? '256M');
  const shape = {
    partitions: Math.max(1, nonNegativeInt('partitions', values.partitions, 1)),
    producers: Math.max(1, nonNegativeInt('producers', values.producers, 1)),
    consumers: Math.max(1, nonNegativeInt('consumers', values.consumers, 1)),
  };
  const fanout = Math.max(1, nonNegativeInt('fanout', values.fanout, 1));
  if (fanout > 1 && targets.some((t) => t !== 'fastpath')) throw new Error('--fanout is for --target fastpath only (Kafka clients: run several consumer groups)');

  const storageNodes = Math.max(1, nonNegativeInt('storage-nodes', values['storage-nodes'], 1));
  const replicationFactor = values.replication === undefined ? undefined : Math.max(1, nonNegativeInt('replication', values.replication, 1));
  if (replicationFactor !== undefined && values.control === undefined && replicationFactor > storageNodes) {
    throw new Error(`--replication ${replicationFactor} needs at least that many storage nodes (--storage-nodes ${storageNodes})`);
  }
  const netns = values.netns === true;
  if (netns && values.control !== undefined) throw new Error('--netns starts its own rdmq; it does not go with --control');
  const placement = { storageNodes: values.control === undefined ? storageNodes : undefined, replicationFactor, netns: netns || undefined };

  const layouts = parseLayouts(values.layout);
  const rounds = Math.max(1, nonNegativeInt('rounds', values.rounds, 1));
  if (values.breakdown && values['client-defaults']) throw new Error('--breakdown and --client-defaults are separate runs; give one');
  if (values['client-defaults']) {
    return runClientDefaults({
      control: values.control,
      gateway: values.kafka,
      kafka: values.bootstrap,
      layouts,
      clients: parseDefaultsClients(values.client),
      bytes: parseSize(values.bytes ?? '200M'),
      recordBytes,
      warmup: warmupSeconds > 0,
      durability: durability as 'none' | 'flush' | 'sync',
      verify: values.verify,
      prefaultRegion,
      json: values.json,
      out: values.out,
    });
  }
  if (values.breakdown) {
    return runBreakdown({
      control: values.control,
      layouts,
      batchBytes: values['batch-sizes'] === undefined ? 8192 : sizes[0],
      recordBytes,
      publishes: Math.max(1, nonNegativeInt('publishes', values.publishes, 1000)),
      warmup: nonNegativeInt('warmup', values.warmup, BREAKDOWN_WARMUP_DEFAULT),
      durability: durability as 'none' | 'flush' | 'sync',
      verify: values.verify,
      prefaultRegion,
      json: values.json,
      out: values.out,
    });
  }

  const apis = parseApis(values.api);
  if (values.layout !== undefined && (values.control !== undefined || storageNodes > 1 || netns)) {
    throw new Error('--layout is for the rdmq the bench starts with one storage node (not with --control, --storage-nodes above 1 or --netns)');
  }
  if (rounds > 1 && (values.control !== undefined || storageNodes > 1 || netns || !needRdmqFor(targets, values.kafka))) {
    throw new Error('--rounds starts the rdmq the bench measures anew each round: not with --control, --kafka, --storage-nodes above 1 or --netns');
  }
  // Room for one point at a time (each point's topic is deleted after it) plus open segments.
  const segment = Math.max(64 << 20, 2 ** Math.ceil(Math.log2(Math.max(...sizes) + 8192)));
  const region = Math.ceil((Math.min(Math.max(fastBytes, kafkaBytes), 8 * 1024 ** 3) * 1.2 + (4 + shape.partitions) * segment) / segment) * segment + 8192;
  const needRdmq = needRdmqFor(targets, values.kafka);
  const securityName = values.security ?? 'plaintext';
  if (securityName !== 'plaintext' && securityName !== 'sasl_ssl') throw new Error(`--security must be plaintext or sasl_ssl, got ${securityName}`);
  const sasl = securityName === 'sasl_ssl';
  if (sasl && (!needRdmq || values.control !== undefined || storageNodes > 1 || netns || layouts.some((l) => l !== 'start'))) {
    throw new Error('--security sasl_ssl is for the rdmq start the bench starts itself (no --control/--kafka/--storage-nodes/--netns, layout start)');
  }

  const results: BenchResults = { startedAt: new Date().toISOString(), machine: describeMachine(), points: [], latency: [], warmupSeconds, ...(needRdmq && values.control === undefined && storageNodes === 1 && !netns ? { prefaultRegion } : {}) };
  const fastOptions = {
    stagingDepth: Math.max(1, nonNegativeInt('staging-depth', values['staging-depth'], STAGING_DEPTH_DEFAULT[mode as ProducerMode])),
    commitEveryBatches: Math.max(1, nonNegativeInt('commit-every', values['commit-every'], 1)),
    commitDelayUs: nonNegativeInt('commit-delay-us', values['commit-delay-us'], 0),
    commitsInFlight: Math.max(1, nonNegativeInt('commits-in-flight', values['commits-in-flight'], 2)),
  };
  const failures: string[] = [];
  /** Doors (target, client, mode, layout) already warmed up: each is warmed once, before its first point. */
  const warmed = new Set<string>();
  /** Runs every workload of one door and batch size, each on a fresh topic, and records the points. */
  const measure = async (serverPid: ServerPids | undefined, point: PointShape, limits: Limits, totalBytes: number, open: () => Promise<Door>): Promise<void> => {
    const doorKey = seriesName(point.target, point.client, point.mode, point.layout);
    if (warmupSeconds > 0 && !warmed.has(doorKey)) {
      warmed.add(doorKey);
      process.stderr.write(`${doorKey}: warming up for ${warmupSeconds} s (not recorded) ...\n`);
      try {
        const door = await open();
        await runWorkload(door, 'produce+consume', { totalBytes, maxSeconds: warmupSeconds, serverPid }).finally(() => door.close());
      } catch (err) {
        // The measured points say whether the door works; a failed warm-up only means it was not warmed.
        process.stderr.write(`${doorKey}: warm-up failed: ${(err as Error).message}\n`);
      }
    }
    for (const workload of workloads) {
      const label = `${seriesName(point.target, point.client, point.mode, point.layout)} ${formatSize(point.batchSize).padStart(4)} ${workload}`;
      let measured: MeasuredPoint;
      try {
        const door = await open();
        measured = await runWorkload(door, workload, { totalBytes, maxSeconds, serverPid, onProgress: progressBar(label) }).finally(() => door.close());
      } catch (err) {
        // One failed point should not cost the rest of a long sweep; the run still fails at the end.
        failures.push(`${label}: ${(err as Error).message}`);
        process.stderr.write(`${process.stderr.isTTY ? '\n' : ''}FAILED ${label}: ${(err as Error).message}\n`);
        continue;
      }
      if (process.stderr.isTTY) process.stderr.write('\n');
      results.points.push({ ...resultPoint(point, limits, measured), ...(point.target === 'kafka' ? { replicationFactor } : placement) });
      results.latency.push(...latencyTraces(point, measured));
      warnUnlessExactlyOnce(label, measured);
      process.stderr.write(`${label}:${summaryLine(measured)}${replicaLine(measured)}\n`);
    }
  };
  /** One sweep of every batch size and door against one rdmq (and Kafka, when asked). */
  const sweep = async (server: { control?: string; gateway?: string; serverPids: { fastpath?: ServerPids; gateway?: ServerPids }; layout?: Layout; round?: number; security?: KafkaSecurity }, withKafka: boolean): Promise<void> => {
    // A fresh rdmq each time: its doors are cold again.
    warmed.clear();
    for (const batchBytes of sizes) {
      const memcpyMBps = measureMemcpyMBps(batchBytes);
      const needsTcp = targets.some((t) => t !== 'fastpath');
      const limits: Limits = { memcpyMBps, tcpLoopbackMBps: needsTcp ? await measureTcpLoopbackMBps(Math.min(batchBytes, 1 << 20)) : undefined };
      const ceilingBytes = Math.max(kafkaBytes, 64 << 20);
      if (needsTcp && clients.includes('kcat')) {
        limits.kcatCeilingMBps = await medianOf(CEILING_RUNS, () => measureKcatCeilingMBps({ batchBytes, recordBytes, acks }, ceilingBytes, Math.min(maxSeconds, 3)));
        if (workloads.some((w) => w !== 'produce')) {
          limits.kcatConsumeCeilingMBps = await measureKcatConsumeCeilingMBps({ batchBytes, recordBytes }, ceilingBytes);
        }
      }
      if (needsTcp && clients.includes('kafkajs') && workloads.some((w) => w !== 'produce')) {
        limits.kafkajsConsumeCeilingMBps = await measureKafkajsConsumeCeilingMBps({ batchBytes, recordBytes }, ceilingBytes);
      }
      // Across network namespaces the fast path moves bytes over TCP, not by CMA.
      if (targets.includes('fastpath') && !netns) limits.processCopyMBps = await measureProcessCopyLimit(batchBytes);
      const layout = { ...(server.layout ? { layout: server.layout } : {}), ...(server.round ? { round: server.round } : {}) };
      if (targets.includes('fastpath')) {
        const fastShape = { ...shape, ...(fanout > 1 ? { fanout } : {}) };
        for (const api of apis) {
          await measure(server.serverPids.fastpath, { target: 'fastpath', mode: server.security ? `${mode} sasl` : mode, client: fastPathClient(api), batchSize: batchBytes, ...fastShape, ...layout }, limits, fastBytes, () =>
            FastPathDoor.open({ control: server.control!, batchBytes, recordBytes, mode, replicationFactor, api, ...fastOptions, ...fastShape, ...(server.security ? { sasl: { mechanism: 'scram-sha-512' as const, username: server.security.username, password: server.security.password } } : {}) }),
          );
        }
      }
      for (const target of targets.filter((t) => t !== 'fastpath' && (withKafka || t !== 'kafka'))) {
        const bootstrap = target === 'kafka' ? values.bootstrap! : server.gateway!;
        const serverPid = target === 'gateway' ? server.serverPids.gateway : undefined;
        for (const client of clients) {
          // The Kafka doors run one producer.
          const kafkaShape = { ...shape, producers: 1 };
          await measure(serverPid, { target, mode: `acks=${acks}${server.security ? ' sasl_ssl' : ''}`, client, batchSize: batchBytes, ...kafkaShape, ...(target === 'kafka' ? {} : layout) }, limits, kafkaBytes, () =>
            openKafkaDoor({ bootstrap, client, batchBytes, recordBytes, acks, partitions: shape.partitions, consumers: shape.consumers, replicationFactor, security: target === 'kafka' ? undefined : server.security }),
          );
        }
      }
    }
  };

  if (needRdmq && values.control === undefined && (storageNodes > 1 || netns)) {
    // Several storage nodes, or members in namespaces: the roles apart, as rdmq cluster start runs them.
    process.stderr.write(`starting rdmq cluster (${storageNodes} storage node(s)${netns ? ', each member in a network namespace' : ''}, region ${formatSize(region)} each) ...\n`);
    const local = await startBenchCluster({ storageNodes, replicationFactor, netns, regionSize: String(region), segmentSize: String(segment), durability });
    try {
      await sweep({ control: local.control, gateway: values.kafka ?? local.kafka, serverPids: { fastpath: local.brokerPid, gateway: local.gatewayPid } }, true);
    } finally {
      await local.stop();
    }
  } else if (needRdmq && values.control === undefined) {
    for (let round = 1; round <= rounds; round++) for (const [i, layout] of layouts.entries()) {
      process.stderr.write(`starting rdmq, ${layout === 'start' ? 'rdmq start' : 'roles apart'}${rounds > 1 ? `, round ${round} of ${rounds}` : ''} (region ${formatSize(region)}, segments ${formatSize(segment)}, durability ${durability}) ...\n`);
      // --security sasl_ssl: a SASL_SSL listener beside PLAINTEXT with throwaway certificates, and a SCRAM user for the Kafka clients and the SDK.
      const certs: TestCertificates | undefined = sasl ? makeCertificates('bench') : undefined;
      const startArgs = certs ? ['--listeners', 'PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0', ...tlsFlags(certs)] : [];
      const started = await startLayout(layout, { durability: durability as 'none' | 'flush' | 'sync', regionSize: String(region), segmentSize: String(segment), verify: values.verify, prefaultRegion, startArgs });
      try {
        let security: KafkaSecurity | undefined;
        let gateway = values.kafka ?? started.kafka;
        if (certs) {
          security = { caFile: certs.caCert, mechanism: 'SCRAM-SHA-512', username: 'bench', password: randomBytes(12).toString('hex') };
          await createUser({ control: started.control, clusterSecretFile: started.clusterSecretFile! }, security.username, security.password, ['--mechanism', security.mechanism]);
          gateway = `127.0.0.1:${started.kafkaPorts!.SASL_SSL}`;
        }
        // Kafka (--target kafka) is measured once, with the first layout.
        await sweep(
          { control: started.control, gateway, serverPids: started.serverPids, layout: layouts.length > 1 || layout !== 'start' ? layout : undefined, round: rounds > 1 ? round : undefined, security },
          i === 0 && round === 1,
        );
      } finally {
        await started.stop();
        certs?.remove();
      }
    }
  } else {
    await sweep({ control: values.control, gateway: values.kafka, serverPids: {} }, true);
  }

  process.stdout.write(textTable(results.points) + '\n');
  const comparison = layoutComparisonText(results.points);
  if (comparison) process.stdout.write(comparison);
  if (values.json) fs.writeFileSync(values.json, JSON.stringify(results.points.map(({ cpuSecondsPerGB: _cpu, ...point }) => point), null, 2) + '\n');
  if (values.out) {
    const plots = await writeResults(values.out, results);
    process.stdout.write(`results in ${values.out}: results.json, results.md, ${plots.map((f) => path.basename(f)).join(', ')} (.png, .svg)\n`);
  }
  if (failures.length > 0) throw new Error(`${failures.length} point(s) failed:\n  ${failures.join('\n  ')}`);
}

/**
 * `--client-defaults`: each client at its defaults against the rdmq the bench
 * starts (each layout) or is given, and against Kafka when one is given
 * (--bootstrap HOST:PORT).
 */
async function runClientDefaults(o: {
  control?: string;
  gateway?: string;
  kafka?: string;
  layouts: Layout[];
  clients: DefaultsClient[];
  bytes: number;
  recordBytes: number;
  /** Each client first produces and reads back min(bytes, 32 MiB), unrecorded. */
  warmup: boolean;
  durability: 'none' | 'flush' | 'sync';
  verify?: string;
  prefaultRegion: boolean;
  json?: string;
  out?: string;
}): Promise<void> {
  const rows: ClientDefaultsRow[] = [];
  const options = { clients: o.clients, bytes: o.bytes, recordBytes: o.recordBytes, warmupBytes: o.warmup ? Math.min(o.bytes, CLIENT_WARMUP_BYTES) : 0 };
  if (o.control !== undefined || o.gateway !== undefined) {
    if (o.gateway === undefined) throw new Error('--client-defaults with --control needs the gateway too: --kafka HOST:PORT');
    rows.push(...(await measureClientDefaults({ name: 'rdmq (given)', bootstrap: o.gateway, control: o.control }, options)));
  } else {
    // Each client's topic is deleted after it: room for one at a time.
    const segment = 64 << 20;
    const region = Math.ceil((o.bytes * 1.3 + 4 * segment) / segment) * segment + 8192;
    for (const layout of o.layouts) {
      process.stderr.write(`starting rdmq, ${layout === 'start' ? 'rdmq start' : 'roles apart'} (region ${formatSize(region)}); ${formatSize(o.bytes)} per client ...\n`);
      const started = await startLayout(layout, { durability: o.durability, regionSize: String(region), segmentSize: String(segment), verify: o.verify, prefaultRegion: o.prefaultRegion });
      try {
        rows.push(
          ...(await measureClientDefaults(
            { name: `rdmq ${layout}`, bootstrap: started.kafka, control: started.control, serverPids: started.serverPids.gateway, metrics: started.gatewayMetrics },
            options,
          )),
        );
      } finally {
        await started.stop();
      }
    }
  }
  if (o.kafka) rows.push(...(await measureClientDefaults({ name: 'kafka', bootstrap: o.kafka }, options)));
  process.stdout.write(clientDefaultsTable(rows) + '\n');
  const machine = describeMachine();
  const json = JSON.stringify({ startedAt: new Date().toISOString(), machine, clientDefaults: rows }, null, 2) + '\n';
  if (o.json) fs.writeFileSync(o.json, json);
  if (o.out) {
    fs.mkdirSync(o.out, { recursive: true });
    fs.writeFileSync(path.join(o.out, 'client-defaults.json'), json);
    fs.writeFileSync(path.join(o.out, 'client-defaults.md'), `# rdmq bench --client-defaults\n\n${machineLine(machine)}\n\n${clientDefaultsTable(rows, true)}`);
    process.stdout.write(`results in ${o.out}: client-defaults.json, client-defaults.md\n`);
  }
  const failed = rows.filter((r) => r.error);
  if (failed.length > 0) throw new Error(`${failed.length} client(s) failed: ${failed.map((r) => `${r.server} ${r.client}: ${r.error}`).join('; ')}`);
}

/** `--breakdown`: per-stage latency of one publish, for each layout (or the given rdmq), one table and JSON. */
async function runBreakdown(o: {
  control?: string;
  layouts: Layout[];
  batchBytes: number;
  recordBytes: number;
  publishes: number;
  warmup: number;
  durability: 'none' | 'flush' | 'sync';
  verify?: string;
  prefaultRegion: boolean;
  json?: string;
  out?: string;
}): Promise<void> {
  process.stderr.write(`measuring this machine's round trip between two processes (${ROUND_TRIPS_DEFAULT} of them) ...\n`);
  const floor = measureRoundTripFloor();
  const results: BreakdownResult[] = [];
  const measureOne = (control: string, layout?: Layout, brokerTraceFile?: string): Promise<BreakdownResult> =>
    measureBreakdown({ control, layout, brokerTraceFile, batchBytes: o.batchBytes, recordBytes: o.recordBytes, publishes: o.publishes, warmup: o.warmup });
  if (o.control !== undefined) {
    results.push(await measureOne(o.control));
  } else {
    for (const layout of o.layouts) {
      const trace = brokerTraceSetup();
      process.stderr.write(`starting rdmq, ${layout === 'start' ? 'rdmq start' : 'roles apart'}, with publish tracing; ${o.warmup} untraced, then ${o.publishes} publishes of ${formatSize(o.batchBytes)} ...\n`);
      try {
        const started = await startLayout(layout, { durability: o.durability, ...breakdownRegion(o), verify: o.verify, prefaultRegion: o.prefaultRegion, env: trace.env });
        try {
          results.push(await measureOne(started.control, layout, trace.file));
        } finally {
          await started.stop();
        }
      } finally {
        trace.remove();
      }
    }
  }
  process.stdout.write(breakdownTable(results, false, floor) + '\n');
  const machine = describeMachine();
  const json = JSON.stringify({ startedAt: new Date().toISOString(), machine, roundTripFloor: floor, breakdown: results }, null, 2) + '\n';
  if (o.json) fs.writeFileSync(o.json, json);
  if (o.out) {
    fs.mkdirSync(o.out, { recursive: true });
    fs.writeFileSync(path.join(o.out, 'breakdown.json'), json);
    const plots = await drawBreakdown(o.out, results, [...STAGES.map((stage) => stage.name), 'commit round trip (broker unseen)']);
    const images = plots.map((file) => `![${path.basename(file)}](${path.basename(file)}.png)\n`).join('');
    fs.writeFileSync(path.join(o.out, 'breakdown.md'), `# rdmq bench --breakdown\n\n${machineLine(machine)}\n\n${breakdownTable(results, true, floor)}\n${images}`);
    process.stdout.write(`results in ${o.out}: breakdown.json, breakdown.md, ${plots.map((f) => path.basename(f)).join(', ')} (.png, .svg)\n`);
  }
}

/** A region that holds every publish of a breakdown run (warm-up included), and segments of at least four batches. */
function breakdownRegion(o: { batchBytes: number; publishes: number; warmup: number }): { regionSize: string; segmentSize: string } {
  const mib = 1 << 20;
  const segment = Math.max(16 * mib, Math.ceil((4 * o.batchBytes) / mib) * mib);
  const needed = (o.publishes + o.warmup) * o.batchBytes * 1.25 + 2 * segment;
  return { regionSize: String(Math.max(256 * mib, Math.ceil(needed / mib) * mib)), segmentSize: String(segment) };
}

type PointShape = Pick<ResultPoint, 'target' | 'mode' | 'client' | 'batchSize' | 'partitions' | 'producers' | 'consumers' | 'fanout' | 'layout' | 'round'>;

/** The bench starts an rdmq of its own: a fast-path target, or the gateway without a given --kafka. */
function needRdmqFor(targets: string[], kafka: string | undefined): boolean {
  return targets.includes('fastpath') || (targets.includes('gateway') && !kafka);
}
/** `--api raw,records` (repeatable, comma-separated): the fast-path rows to measure; default both. */
function parseApis(words: string[] | undefined): FastPathApi[] {
  const given = (words ?? ['raw,records']).flatMap((w) => w.split(',')).map((w) => w.trim()).filter((w) => w !== '');
  for (const w of given) if (w !== 'raw' && w !== 'records') throw new Error(`unknown --api ${w}; allowed: raw (producer.write, eachRawBatch), records (send, eachMessage)`);
  if (given.length === 0) throw new Error('--api needs a value: raw, records or raw,records');
  return [...new Set(given)] as FastPathApi[];
}

type Limits = Pick<ResultPoint, 'memcpyMBps' | 'tcpLoopbackMBps' | 'processCopyMBps' | 'kcatCeilingMBps' | 'kcatConsumeCeilingMBps' | 'kafkajsConsumeCeilingMBps'>;

/** The fast path's copy between processes (process-copy.ts); undefined, with a warning, where this host refuses CMA (the fast path then sends bytes on its socket). */
async function measureProcessCopyLimit(batchBytes: number): Promise<ProcessCopyMBps | undefined> {
  try {
    return await measureProcessCopyMBps(batchBytes);
  } catch (err) {
    process.stderr.write(`warning: the copy between processes (CMA) could not be measured: ${(err as Error).message}\n`);
    return undefined;
  }
}

function resultPoint(point: PointShape, limits: Limits, m: MeasuredPoint): ResultPoint {
  const gb = m.movedBytes / 1e9;
  const summary = (r: LatencyRecorder | undefined): LatencySummary | undefined => (r && r.count > 0 ? r.summary() : undefined);
  return {
    ...point,
    workload: m.workload,
    producerMBps: m.producerMBps,
    consumerMBps: m.consumerMBps,
    latencyUs: summary(m.publish),
    e2eLatencyUs: summary(m.e2e),
    records: {
      produced: m.producedRecords,
      consumed: m.consumed?.records,
      duplicates: m.consumed?.duplicates,
      missing: m.consumed?.missing,
      ...(m.consumed?.recordsByReader ? { consumedByReader: m.consumed.recordsByReader } : {}),
    },
    ...limits,
    // Each client's row carries its own ceilings only.
    ...(point.client === 'kcat' ? {} : { kcatCeilingMBps: undefined, kcatConsumeCeilingMBps: undefined }),
    ...(point.client === 'kafkajs' ? {} : { kafkajsConsumeCeilingMBps: undefined }),
    ...(point.target === 'fastpath' ? {} : { processCopyMBps: undefined }),
    ...(m.readBytesByReplica ? { readBytesByReplica: m.readBytesByReplica } : {}),
    ...(m.readBytesByReader ? { readBytesByReader: m.readBytesByReader } : {}),
    cpuSecondsPerGB: {
      client: m.cpu.client / gb,
      server: m.cpu.server / gb,
      ...(point.client === 'kcat' ? { clientChildren: m.cpu.clientChildren / gb } : {}),
      ...(m.cpu.serverByRole ? { serverByRole: Object.fromEntries(Object.entries(m.cpu.serverByRole).map(([role, seconds]) => [role, seconds / gb])) } : {}),
    },
  };
}

/** The publish and end-to-end latency of a point, for the plots (and the whole histograms, for later). */
function latencyTraces(point: PointShape, m: MeasuredPoint): LatencyTrace[] {
  const base = seriesName(point.target, point.client, point.mode, point.layout);
  const consumersSeries = (point.consumers ?? 1) > 1 ? `${base}, ${point.consumers} consumers` : base;
  const series = (point.fanout ?? 1) > 1 ? `${consumersSeries}, fanout ${point.fanout}` : consumersSeries;
  const traces: LatencyTrace[] = [];
  for (const [kind, recorder] of [['publish', m.publish], ['e2e', m.e2e]] as [LatencyKind, LatencyRecorder | undefined][]) {
    if (!recorder || recorder.count === 0) continue;
    const label = `${series} ${formatSize(point.batchSize)}${kind === 'e2e' ? ' e2e' : ''}`;
    traces.push({ label, series, batchSize: point.batchSize, workload: m.workload, kind, overTime: thin(recorder.overTime()), cdf: recorder.cdf(), histogram: recorder.encoded() });
  }
  return traces;
}

function summaryLine(m: MeasuredPoint): string {
  const mbps = (v: number | undefined, side: string): string => (v === undefined ? '' : ` ${v.toFixed(0)} MB/s ${side}`);
  const e2e = m.e2e && m.e2e.count > 0 ? `, e2e p50 ${m.e2e.summary().p50} µs` : '';
  return `${mbps(m.producerMBps, 'produce')}${mbps(m.consumerMBps, 'consume')}${e2e}`;
}

/** The consumers' read bytes per replica, and per independent reader when there are several (--fanout). */
function replicaLine(m: MeasuredPoint): string {
  const share = (by: Record<string, number>): string => {
    const total = Object.values(by).reduce((a, b) => a + b, 0);
    return Object.entries(by)
      .map(([replica, bytes]) => `${replica} ${humanBytes(bytes)} (${((bytes / Math.max(1, total)) * 100).toFixed(0)}%)`)
      .join(', ');
  };
  const by = m.readBytesByReplica;
  if (!by || Object.keys(by).length === 0) return '';
  const perReader = (m.readBytesByReader ?? []).map((r, i) => `; reader ${i}: ${share(r)}`).join('');
  return `; read per replica: ${share(by)}${perReader}`;
}

/** A benchmark that lost or repeated records would report a figure for work it did not do: say so loudly. */
function warnUnlessExactlyOnce(label: string, m: MeasuredPoint): void {
  const consumed = m.consumed;
  if (!consumed) return;
  const readers = m.readers ?? 1;
  const byReader = consumed.recordsByReader ?? [];
  const problems = [
    readers === 1 && consumed.records !== m.producedRecords ? `consumers delivered ${consumed.records} records of ${m.producedRecords} produced` : '',
    ...Array.from({ length: readers > 1 ? readers : 0 }, (_, r) =>
      byReader[r] !== m.producedRecords ? `reader ${r} delivered ${byReader[r] ?? 0} records of ${m.producedRecords} produced` : '',
    ),
    consumed.duplicates ? `${consumed.duplicates} delivered twice` : '',
    consumed.missing ? `${consumed.missing} skipped` : '',
  ].filter((p) => p !== '');
  if (problems.length > 0) process.stderr.write(`WARNING ${label}: ${problems.join('; ')}\n`);
}

function yesOrNo(flag: string, value: string): boolean {
  if (value === 'yes') return true;
  if (value === 'no') return false;
  throw new Error(`${flag} must be yes or no, got ${value}`);
}
