// rdmq bench --client-defaults: what a user gets who points an existing
// application at the gateway without tuning it. Each client, at its default
// settings (acks=all; sarama also its protocol version), produces `bytes` of
// `recordBytes` records into a fresh one-partition topic, then reads them back:
//   kcat          -P from a file of lines (librdkafka's defaults), -C -c N
//   kafkajs       send() of 512 KiB of messages at a time, awaited; a group's eachMessage
//   kafka-python  send() per record, flush() every MiB; KafkaConsumer iterated (Debian's python3-kafka)
//   confluent-kafka  produce() per record, poll(0) after each, flush(); a Consumer
//                 assigned the partition, poll() per record (Debian's python3-confluent-kafka: librdkafka)
//   sarama        AsyncProducer fed every record, closed; ConsumePartition (Debian's sarama)
// Beside MB/s it reports what the gateway saw per phase, from its metrics:
// requests by API and their mean handling time, so per-request costs show.
// Before its measured phases each client first produces and reads back
// `warmupBytes` into a topic of its own, unrecorded: a fresh server's JIT has
// not yet compiled the paths this client's requests take (its API versions,
// its batch shapes), and the first tens of MB run at half speed or less; a
// user's application meets a server that has been running.
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { Kafka, logLevel } from 'kafkajs';
import { buildGoSource } from '../compat-tests/testing/go';
import { Rdmq } from '../rdma-client';
import { CpuMeter, ServerPids } from './cpu';
import { Layout } from './layouts';
import { formatSize, renderTable } from './sizes';

export type DefaultsClient = 'kcat' | 'kafkajs' | 'kafka-python' | 'confluent-kafka' | 'sarama';
export const DEFAULTS_CLIENTS: DefaultsClient[] = ['kcat', 'kafkajs', 'kafka-python', 'confluent-kafka', 'sarama'];

const CLIENTS_DIR = path.join(__dirname, '..', '..', 'bench', 'clients');
/** Debian's interpreter, where python3-kafka and python3-confluent-kafka are installed (not a pyenv one on PATH). */
const PYTHON = '/usr/bin/python3';
/** kafkajs has no batching of its own: each send() is one request. Half a MiB stays under Kafka's default max.message.bytes (1 MB). */
const KAFKAJS_SEND_BYTES = 512 * 1024;

export interface PhaseResult {
  mbps: number;
  records: number;
  seconds: number;
  /** CPU seconds per GB: this process and its client processes, and the rdmq server (absent against Kafka). */
  cpuSecondsPerGB: { client: number; server?: number };
  /** Kafka requests the gateway served in the phase, by API, with their mean handling time (absent against Kafka). */
  requests?: Record<string, { count: number; meanUs: number }>;
  /** The server's CPU per request of the phase's main API (Produce, Fetch): its per-request cost, fixed part and bytes together. */
  serverCpuUsPerRequest?: number;
}

export interface ClientDefaultsRow {
  /** 'rdmq start', 'rdmq apart' or 'kafka'. */
  server: string;
  client: DefaultsClient;
  recordBytes: number;
  /** Records the client produced and read back unrecorded before its measured phases (0: no warm-up). */
  warmupRecords: number;
  produce?: PhaseResult;
  consume?: PhaseResult;
  error?: string;
}

export interface DefaultsServer {
  name: string;
  bootstrap: string;
  /** The SDK's control address, to create topics; absent: topics are created through the Kafka door. */
  control?: string;
  serverPids?: ServerPids;
  /** The gateway's metrics address (host:port). */
  metrics?: string;
}

interface ClientRun {
  records: number;
  bytes: number;
  seconds: number;
}

/** Runs each client against `server`; a client that fails gets a row with its error (the others still run). */
export async function measureClientDefaults(
  server: DefaultsServer,
  o: { clients: DefaultsClient[]; bytes: number; recordBytes: number; warmupBytes: number; timeoutMs?: number },
): Promise<ClientDefaultsRow[]> {
  const rows: ClientDefaultsRow[] = [];
  const records = Math.max(1, Math.floor(o.bytes / o.recordBytes));
  const warmupRecords = Math.min(records, Math.floor(o.warmupBytes / o.recordBytes));
  const timeoutMs = o.timeoutMs ?? 600_000;
  const work = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'rdmq-defaults-'));
  try {
    for (const client of o.clients) {
      const topic = `defaults-${client}-${Date.now()}`;
      const row: ClientDefaultsRow = { server: server.name, client, recordBytes: o.recordBytes, warmupRecords: 0 };
      try {
        if (warmupRecords > 0) row.warmupRecords = await warmUp(server, client, work, o.recordBytes, warmupRecords, timeoutMs);
        await createTopic(server, topic);
        const runner = await clientRunner(client, work, o.recordBytes, records, timeoutMs);
        row.produce = await phase(server, 'Produce', () => runner.produce(server.bootstrap, topic));
        row.consume = await phase(server, 'Fetch', () => runner.consume(server.bootstrap, topic));
        if (row.consume.records !== records) throw new Error(`read ${row.consume.records} of ${records} records back`);
      } catch (err) {
        row.error = (err as Error).message.split('\n')[0];
        process.stderr.write(`FAILED ${server.name} ${client}: ${(err as Error).message}\n`);
      }
      rows.push(row);
      await deleteTopic(server, topic).catch(() => undefined);
      if (row.produce && row.consume) process.stderr.write(`${server.name} ${client}: ${row.produce.mbps.toFixed(1)} MB/s produce, ${row.consume.mbps.toFixed(1)} MB/s consume\n`);
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return rows;
}

/** One unrecorded round of `client`'s produce and read-back, in a topic deleted after it (so the measured topic has the room). */
async function warmUp(server: DefaultsServer, client: DefaultsClient, work: string, recordBytes: number, records: number, timeoutMs: number): Promise<number> {
  const topic = `defaults-warmup-${client}-${Date.now()}`;
  process.stderr.write(`${server.name} ${client}: warming up with ${formatSize(records * recordBytes)} (not recorded) ...\n`);
  await createTopic(server, topic);
  try {
    const runner = await clientRunner(client, work, recordBytes, records, timeoutMs);
    await runner.produce(server.bootstrap, topic);
    const read = await runner.consume(server.bootstrap, topic);
    if (read.records !== records) throw new Error(`warm-up read ${read.records} of ${records} records back`);
    return read.records;
  } finally {
    await deleteTopic(server, topic).catch(() => undefined);
  }
}

async function phase(server: DefaultsServer, api: 'Produce' | 'Fetch', run: () => Promise<ClientRun>): Promise<PhaseResult> {
  const cpu = new CpuMeter(server.serverPids);
  const before = server.metrics ? await gatewayRequests(server.metrics) : undefined;
  const result = await cpu.measure(run);
  const after = server.metrics ? await gatewayRequests(server.metrics) : undefined;
  const gb = result.bytes / 1e9;
  const seconds = cpu.seconds;
  const requests = before && after ? requestDelta(before, after) : undefined;
  const count = requests?.[api]?.count ?? 0;
  return {
    mbps: result.bytes / result.seconds / 1e6,
    records: result.records,
    seconds: result.seconds,
    cpuSecondsPerGB: { client: seconds.client / gb, ...(server.serverPids ? { server: seconds.server / gb } : {}) },
    ...(requests ? { requests } : {}),
    ...(server.serverPids && count > 0 ? { serverCpuUsPerRequest: Math.round((seconds.server / count) * 1e6) } : {}),
  };
}

interface ClientRunner {
  produce(bootstrap: string, topic: string): Promise<ClientRun>;
  consume(bootstrap: string, topic: string): Promise<ClientRun>;
}

async function clientRunner(client: DefaultsClient, work: string, recordBytes: number, records: number, timeoutMs: number): Promise<ClientRunner> {
  if (client === 'kafkajs') return kafkajsRunner(recordBytes, records, timeoutMs);
  if (client === 'kcat') return kcatRunner(work, recordBytes, records, timeoutMs);
  const program = client === 'sarama' ? [await buildGoSource(path.join(CLIENTS_DIR, 'sarama-defaults.go'), work)] : [PYTHON, path.join(CLIENTS_DIR, `${client}-defaults.py`)];
  const run = (phaseName: string) => (bootstrap: string, topic: string) =>
    runJson(program[0], [...program.slice(1), bootstrap, topic, phaseName, String(records), String(recordBytes)], timeoutMs);
  return { produce: run('produce'), consume: run('consume') };
}

/** kcat -P reads one record per line: a file of `records` lines of `recordBytes - 1` bytes and a newline (kcat strips it). */
function kcatRunner(work: string, recordBytes: number, records: number, timeoutMs: number): ClientRunner {
  const valueBytes = Math.max(1, recordBytes);
  const input = path.join(work, 'kcat-input');
  const line = Buffer.alloc(valueBytes + 1, 0x62);
  line[valueBytes] = 0x0a;
  const chunk = Buffer.concat(Array.from({ length: Math.max(1, Math.floor((1 << 20) / line.length)) }, () => line));
  const perChunk = chunk.length / line.length;
  const fd = fs.openSync(input, 'w');
  for (let written = 0; written < records; written += perChunk) fs.writeSync(fd, chunk, 0, Math.min(perChunk, records - written) * line.length);
  fs.closeSync(fd);
  return {
    produce: async (bootstrap, topic) => {
      const start = process.hrtime.bigint();
      // On stdin: given as a file argument, kcat sends the whole file as one message.
      await runProcess('kcat', ['-P', '-b', bootstrap, '-t', topic, '-X', 'acks=all'], timeoutMs, true, input);
      return { records, bytes: records * valueBytes, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
    },
    consume: async (bootstrap, topic) => {
      const start = process.hrtime.bigint();
      // -c N: exits once N records are read (fails on its own timeout otherwise).
      await runProcess('kcat', ['-C', '-b', bootstrap, '-t', topic, '-o', 'beginning', '-c', String(records), '-q'], timeoutMs, false);
      return { records, bytes: records * valueBytes, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
    },
  };
}

function kafkajsRunner(recordBytes: number, records: number, timeoutMs: number): ClientRunner {
  const value = Buffer.alloc(recordBytes, 0x62);
  const perSend = Math.max(1, Math.floor(KAFKAJS_SEND_BYTES / recordBytes));
  const kafka = (bootstrap: string): Kafka => new Kafka({ clientId: 'rdmq-bench-defaults', brokers: bootstrap.split(','), logLevel: logLevel.NOTHING });
  return {
    produce: async (bootstrap, topic) => {
      const producer = kafka(bootstrap).producer();
      await producer.connect();
      try {
        const start = process.hrtime.bigint();
        for (let sent = 0; sent < records; sent += perSend) {
          const n = Math.min(perSend, records - sent);
          await producer.send({ topic, acks: -1, messages: Array.from({ length: n }, () => ({ value })) });
        }
        return { records, bytes: records * recordBytes, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
      } finally {
        await producer.disconnect();
      }
    },
    consume: async (bootstrap, topic) => {
      const consumer = kafka(bootstrap).consumer({ groupId: `rdmq-bench-defaults-${Date.now()}` });
      await consumer.connect();
      try {
        await consumer.subscribe({ topic, fromBeginning: true });
        const start = process.hrtime.bigint();
        let got = 0;
        let bytes = 0;
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`kafkajs read ${got} of ${records} records in ${timeoutMs} ms`)), timeoutMs);
          consumer
            .run({
              eachMessage: async ({ message }) => {
                got++;
                bytes += message.value?.length ?? 0;
                if (got >= records) {
                  clearTimeout(timer);
                  resolve();
                }
              },
            })
            .catch(reject);
        });
        return { records: got, bytes, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
      } finally {
        await consumer.disconnect();
      }
    },
  };
}

/** Runs a client program that prints one JSON line ({records, bytes, seconds}) last. */
async function runJson(file: string, args: string[], timeoutMs: number): Promise<ClientRun> {
  const stdout = await runProcess(file, args, timeoutMs);
  return JSON.parse(stdout.trim().split('\n').pop()!) as ClientRun;
}

/**
 * Runs a process to its exit (so its CPU is counted as reaped); resolves to
 * its stdout (unless `keepStdout` is false: then it goes to /dev/null, so that
 * a consumer's output costs this process nothing), rejects with its stderr.
 */
function runProcess(file: string, args: string[], timeoutMs: number, keepStdout = true, stdinFile?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = stdinFile === undefined ? 'ignore' : fs.openSync(stdinFile, 'r');
    const child = spawn(file, args, { stdio: [stdin, keepStdout ? 'pipe' : 'ignore', 'pipe'] });
    if (typeof stdin === 'number') fs.closeSync(stdin);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => void (stdout = (stdout + c.toString()).slice(-65536)));
    child.stderr!.on('data', (c: Buffer) => void (stderr = (stderr + c.toString()).slice(-8192)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${path.basename(file)} ${args.slice(0, 4).join(' ')} exited (${code ?? signal}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

async function createTopic(server: DefaultsServer, topic: string): Promise<void> {
  if (server.control) {
    const admin = new Rdmq({ control: server.control }).admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
    } finally {
      await admin.disconnect();
    }
    return;
  }
  const admin = new Kafka({ clientId: 'rdmq-bench-defaults', brokers: server.bootstrap.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

async function deleteTopic(server: DefaultsServer, topic: string): Promise<void> {
  const admin = new Kafka({ clientId: 'rdmq-bench-defaults', brokers: server.bootstrap.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [topic] });
  } finally {
    await admin.disconnect();
  }
}

type RequestTotals = Map<string, { count: number; seconds: number }>;

/** The gateway's served requests so far, by API (rdmq_gateway_request_seconds count and sum). */
async function gatewayRequests(metrics: string): Promise<RequestTotals> {
  const text = await new Promise<string>((resolve, reject) => {
    http
      .get(`http://${metrics}/metrics`, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(body));
      })
      .once('error', reject);
  });
  const totals: RequestTotals = new Map();
  for (const m of text.matchAll(/^rdmq_gateway_request_seconds_(count|sum)\{[^}]*api="([^"]+)"[^}]*\} ([\d.eE+-]+)$/gm)) {
    const entry = totals.get(m[2]) ?? { count: 0, seconds: 0 };
    if (m[1] === 'count') entry.count += Number(m[3]);
    else entry.seconds += Number(m[3]);
    totals.set(m[2], entry);
  }
  return totals;
}

function requestDelta(before: RequestTotals, after: RequestTotals): Record<string, { count: number; meanUs: number }> {
  const out: Record<string, { count: number; meanUs: number }> = {};
  for (const [api, a] of after) {
    const b = before.get(api) ?? { count: 0, seconds: 0 };
    const count = a.count - b.count;
    if (count > 0) out[api] = { count, meanUs: Math.round(((a.seconds - b.seconds) / count) * 1e6) };
  }
  return out;
}

/** The main requests of a phase as "Produce 1,234 × 310 µs". */
function requestsText(p: PhaseResult | undefined, api: string): string {
  const r = p?.requests?.[api];
  return r ? `${r.count} × ${r.meanUs} µs` : '-';
}

const mbps = (p: PhaseResult | undefined): string => (p ? p.mbps.toFixed(1) : '-');
const cpu = (p: PhaseResult | undefined): string => (p ? `${p.cpuSecondsPerGB.client.toFixed(1)} / ${p.cpuSecondsPerGB.server === undefined ? '-' : p.cpuSecondsPerGB.server.toFixed(1)}` : '-');

/** One table: a row per server and client. */
export function clientDefaultsTable(rows: ClientDefaultsRow[], markdown = false): string {
  const header = [
    'server', 'client', 'produce MB/s', 'consume MB/s', 'Produce requests × mean handling', 'Fetch requests × mean handling',
    'server CPU µs per Produce / Fetch', 'CPU s/GB produce client / server', 'CPU s/GB consume client / server', 'error',
  ];
  const perRequest = (r: ClientDefaultsRow): string => `${r.produce?.serverCpuUsPerRequest ?? '-'} / ${r.consume?.serverCpuUsPerRequest ?? '-'}`;
  const body = rows.map((r) => [r.server, r.client, mbps(r.produce), mbps(r.consume), requestsText(r.produce, 'Produce'), requestsText(r.consume, 'Fetch'), perRequest(r), cpu(r.produce), cpu(r.consume), r.error ?? '']);
  const warmup = rows.length > 0 && rows[0].warmupRecords > 0 ? `, after ${formatSize(rows[0].warmupRecords * rows[0].recordBytes)} each unrecorded` : '';
  const title = rows.length > 0 ? `records of ${formatSize(rows[0].recordBytes)}, acks=all, each client at its defaults${warmup}` : '';
  if (!markdown) return `${title}\n${renderTable(header, body)}`;
  return [`${title}\n`, `| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n') + '\n';
}

export function parseDefaultsClients(words: string[] | undefined): DefaultsClient[] {
  const given = (words ?? DEFAULTS_CLIENTS).flatMap((w) => w.split(',')).map((w) => w.trim()).filter((w) => w !== '');
  for (const w of given) if (!DEFAULTS_CLIENTS.includes(w as DefaultsClient)) throw new Error(`unknown --client ${w} for --client-defaults; allowed: ${DEFAULTS_CLIENTS.join(', ')}`);
  return [...new Set(given)] as DefaultsClient[];
}

export type { Layout };
