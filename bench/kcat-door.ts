// kcat (librdkafka) as a door: every client is a kcat child process, fed
// and read through pipes. The producer reads `recordBytes`-long lines from
// stdin; kcat reports no per-record acknowledgement, so there is no publish
// latency. One consumer reads every partition itself (-C); N consumers are
// members of one consumer group (-G), which splits the partitions.
//
// End-to-end latency, as far as kcat allows: this process stamps a line of
// each batch with the wall clock as it hands the line to kcat's stdin, and
// takes the time as a consumer's output reaches it (unbuffered, -u). So it
// includes both pipes and librdkafka's own batching wait (linger.ms).
import { ChildProcess, spawn } from 'child_process';
import * as readline from 'readline';
import { ConsumeRun, Door, Produced, ProduceRun, RunningConsumers } from './door';
import { TEXT_STAMP_BYTES, TextStampScanner, wallClockMs, writeTextStamp } from './e2e-stamp';
import type { KafkaDoorOptions, KafkaSecurity } from './kafka-target';

/** Bytes written to kcat's stdin at once. */
const CHUNK_BYTES = 1 << 20;
/** How long live consumers may take to reach the end of every partition (a group join waits 3 s). */
const READY_MS_MAX = 60_000;
const NEWLINE = 0x0a;
/** Batches librdkafka may hold while end-to-end latency is measured: one filling, one in flight. */
const E2E_QUEUED_BATCHES = 2;

export class KcatDoor implements Door {
  private groups = 0;

  constructor(
    readonly topic: string,
    private readonly o: KafkaDoorOptions,
    readonly close: () => Promise<void>,
  ) {}

  /**
   * kcat (librdkafka) producer settings, as a user after batches of the target
   * size would set them; librdkafka 2.0's defaults cap a batch below 1 MiB:
   *   batch.size                  the target (default 1 000 000 bytes)
   *   batch.num.messages          enough records to fill it (default 10 000)
   *   linger.ms=20                time for a batch to fill (default 5)
   *   message.max.bytes           room for a whole batch in one request (default 1 000 000)
   *   queue.buffering.max.kbytes  buffering ahead of the broker (default 1 GiB; see below)
   *   acks                        as the bench asks (default all)
   * Everything else stays at librdkafka's defaults: requests in flight,
   * socket buffers, no compression, no idempotence.
   */
  private producerArgs(e2e: boolean): string[] {
    const o = this.o;
    // One partition: write it. Several: librdkafka's sticky partitioner fills a batch per partition in turn.
    const partition = o.partitions === 1 ? ['-p', '0'] : [];
    // For throughput kcat may queue the whole run. For end-to-end latency at most
    // E2E_QUEUED_BATCHES wait in librdkafka (kcat stops reading stdin when full), as the
    // other doors keep a few batches in flight; otherwise the figure would be the queue's length.
    const queueKiB = e2e ? Math.max(1024, Math.ceil((E2E_QUEUED_BATCHES * o.batchBytes) / 1024)) : 2097151;
    const recordsPerBatch = Math.min(1_000_000, Math.max(10_000, Math.ceil(o.batchBytes / o.recordBytes)));
    return ['-P', '-t', this.topic, ...partition, '-b', o.bootstrap, ...kcatSecurityArgs(o.security), '-X', `batch.size=${o.batchBytes}`, '-X', `batch.num.messages=${recordsPerBatch}`, '-X', 'linger.ms=20', '-X', `message.max.bytes=${Math.max(o.batchBytes * 2, 1 << 20)}`, '-X', `queue.buffering.max.kbytes=${queueKiB}`, '-X', `acks=${o.acks}`];
  }

  async produce(run: ProduceRun): Promise<Produced> {
    const o = this.o;
    if (run.stamp && o.recordBytes <= TEXT_STAMP_BYTES) throw new Error(`kcat end-to-end stamps need records of more than ${TEXT_STAMP_BYTES} bytes (--record-size)`);
    const line = Buffer.alloc(o.recordBytes, 0x62);
    line[line.length - 1] = NEWLINE;
    const linesPerChunk = Math.max(1, Math.floor(CHUNK_BYTES / o.recordBytes));
    const chunk = Buffer.concat(Array.from({ length: linesPerChunk }, () => line));
    // One stamped line per batch's worth of lines, as the other doors stamp one record per batch.
    const stampEvery = Math.max(1, Math.floor(o.batchBytes / o.recordBytes));
    const lines = Math.max(1, Math.floor(run.totalBytes / o.recordBytes));
    run.clock.start();
    const start = process.hrtime.bigint();
    const child = spawn('kcat', this.producerArgs(run.stamp), { stdio: ['pipe', 'ignore', 'inherit'] });
    const exited = exitOf(child);
    let failure: Error | undefined;
    child.stdin!.on('error', (err) => (failure ??= err));
    let written = 0;
    while (written < lines && process.hrtime.bigint() < run.deadline && failure === undefined && child.exitCode === null) {
      let data = chunk;
      if (run.stamp) {
        // A fresh buffer: the previous one may still wait in the pipe's queue.
        data = Buffer.from(chunk);
        const now = wallClockMs();
        for (let i = 0; i < linesPerChunk; i += stampEvery) writeTextStamp(data, i * o.recordBytes, now);
      }
      if (!child.stdin!.write(data)) await Promise.race([new Promise((resolve) => child.stdin!.once('drain', resolve)), exited]);
      written += linesPerChunk;
      run.onProgress?.(Math.min(written * o.recordBytes, run.totalBytes));
    }
    child.stdin!.end();
    const code = await exited;
    if (code !== 0 || failure) throw new Error(`kcat producer exited with ${code}${failure ? `: ${failure.message}` : ''}`);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    return { bytes: written * (o.recordBytes - 1), records: written, seconds };
  }

  async startConsumers(run: ConsumeRun): Promise<RunningConsumers> {
    const o = this.o;
    const common = ['-b', o.bootstrap, ...kcatSecurityArgs(o.security), '-f', '%s\\n', '-X', 'fetch.max.bytes=67108864', '-X', `receive.message.max.bytes=${(64 << 20) + (1 << 20)}`];
    // A filled topic: read it to its end and exit, which flushes stdout: after as many records as it
    // holds (-c) when one consumer reads them all, else at the end (-e). Live: write each record out
    // at once (-u), or stdio would hold the last ones in its buffer; that halves kcat's consumer
    // throughput (~180 → ~100 MB/s of 1 KiB records here), so e2e only.
    const output = run.live ? ['-u'] : o.consumers === 1 && run.records !== undefined ? ['-c', String(run.records)] : ['-e'];
    const groupId = `${this.topic}-readers-${++this.groups}`;
    const args = o.consumers === 1
      ? ['-C', '-t', this.topic, '-o', 'beginning', ...common, ...output]
      : ['-G', groupId, '-X', 'auto.offset.reset=earliest', ...common, ...output, this.topic];
    const consumers = new KcatConsumers(args, o.consumers, o.partitions, this.topic, run);
    // A lone -C consumer reads at once; a group reads from its first assignment (kafkajs is timed
    // from its first join the same way). Live consumers must also be at the end of every partition.
    if (!run.live && o.consumers === 1) return { readyAt: consumers.spawnedAt, stop: () => consumers.stop() };
    let timer: NodeJS.Timeout | undefined;
    const tooLong = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`kcat consumers of ${this.topic} were not ${run.live ? 'at the end of every partition' : 'all assigned partitions'} within ${READY_MS_MAX / 1000} s`)), READY_MS_MAX);
    });
    try {
      await Promise.race([run.live ? consumers.allAtEnd : consumers.allAssigned, tooLong]);
      return { readyAt: run.live ? process.hrtime.bigint() : (consumers.firstAssignedAt ?? consumers.spawnedAt), stop: () => consumers.stop() };
    } catch (err) {
      await consumers.stop();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** N kcat consumer processes of one run, and what their stderr says about where they are. */
class KcatConsumers {
  readonly spawnedAt = process.hrtime.bigint();
  firstAssignedAt: bigint | undefined;
  /** Every partition has been read to its end at least once. */
  readonly allAtEnd: Promise<void>;
  /** Every member has had partitions assigned (group mode). */
  readonly allAssigned: Promise<void>;
  private readonly children: { child: ChildProcess; closed: Promise<void> }[];

  constructor(args: string[], count: number, partitions: number, topic: string, run: ConsumeRun) {
    const atEnd = new Set<number>();
    let assigned = 0;
    let reachedEnd = (): void => undefined;
    let everyoneAssigned = (): void => undefined;
    this.allAtEnd = new Promise((resolve) => (reachedEnd = resolve));
    this.allAssigned = new Promise((resolve) => (everyoneAssigned = resolve));
    this.children = Array.from({ length: count }, () => {
      const child = spawn('kcat', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      readOutput(child, run);
      watchStatus(child, topic, {
        onEnd: (partition) => {
          atEnd.add(partition);
          if (atEnd.size >= partitions) reachedEnd();
        },
        onAssigned: () => {
          this.firstAssignedAt ??= process.hrtime.bigint();
          if (++assigned >= count) everyoneAssigned();
        },
        onError: (err) => run.ledger.fail(err),
      });
      return { child, closed: closeOf(child) };
    });
  }

  async stop(): Promise<void> {
    for (const { child } of this.children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    // Waited for, so their CPU time is counted as this process's children's.
    await Promise.all(this.children.map((c) => c.closed));
  }
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));
}

/** Resolves once the process has exited (and been waited for) and its pipes are closed. */
function closeOf(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => child.once('close', () => resolve()));
}

/** Counts a consumer's output (one value per line) and finds the stamps in it. */
function readOutput(child: ChildProcess, run: ConsumeRun): void {
  const scanner = new TextStampScanner();
  // Bytes of a record whose newline has not arrived yet: counted with it, so the
  // ledger never sees a record's bytes before the record (and a run that stops
  // at the byte count has every record whole).
  let partialBytes = 0;
  child.stdout!.on('data', (chunk: Buffer) => {
    const receivedMs = wallClockMs();
    let lines = 0;
    let lastNewline = -1;
    for (let at = chunk.indexOf(NEWLINE); at >= 0; at = chunk.indexOf(NEWLINE, at + 1)) {
      lines++;
      lastNewline = at;
    }
    if (lines > 0) {
      run.ledger.addUnordered(lines, partialBytes + lastNewline + 1 - lines);
      partialBytes = chunk.length - lastNewline - 1;
    } else {
      partialBytes += chunk.length;
    }
    if (run.e2e) scanner.push(chunk, (stampMs) => run.e2e!.record((receivedMs - stampMs) * 1e3, run.clock.msSinceStart()));
  });
}

interface StatusHandlers {
  onEnd: (partition: number) => void;
  onAssigned: () => void;
  onError: (err: Error) => void;
}

/**
 * kcat says on stderr when a group gives it partitions ("% Group G
 * rebalanced (memberid M): assigned: T [P], ...") and when it reaches the
 * end of a partition ("% Reached end of topic T [P] at offset N"); anything
 * that is an error is passed on, and an exit other than by stop() or -e
 * fails the run.
 */
function watchStatus(child: ChildProcess, topic: string, on: StatusHandlers): void {
  const endOf = new RegExp(`^% Reached end of topic ${topic.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\[(\\d+)\\]`);
  let tail = '';
  readline.createInterface({ input: child.stderr! }).on('line', (line) => {
    const end = endOf.exec(line);
    if (end) return on.onEnd(Number(end[1]));
    if (/^% Group \S+ rebalanced .*: assigned:/.test(line)) return on.onAssigned();
    tail = `${tail}\n${line}`.slice(-2000);
    if (/error/i.test(line)) process.stderr.write(`kcat: ${line}\n`);
  });
  child.once('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM') on.onError(new Error(`kcat consumer exited with ${code ?? signal}:${tail}`));
  });
}

/** kcat's -X options for `security`. */
export function kcatSecurityArgs(security: KafkaSecurity | undefined): string[] {
  if (!security) return [];
  return ['-X', 'security.protocol=SASL_SSL', '-X', `sasl.mechanisms=${security.mechanism}`, '-X', `sasl.username=${security.username}`, '-X', `sasl.password=${security.password}`, '-X', `ssl.ca.location=${security.caFile}`];
}
