// What every chaos workload client shares: its settings (JSON in argv[2]),
// its history file, progress reports to the runner over the IPC channel, a
// graceful stop on the runner's word, and bounded waits.
import { Kafka, logLevel } from 'kafkajs';
import { HistoryWriter } from '../history';

export type ClientKind = 'kafka-producer' | 'kafka-consumer' | 'sdk-producer' | 'sdk-consumer';

export interface ClientSettings {
  kind: ClientKind;
  /** Unique per client and incarnation; prefixes every value it sends. */
  name: string;
  historyFile: string;
  topic: string;
  partitions: number;
  /** Kafka bootstrap, HOST:PORT (the gateway). */
  kafka: string;
  /** Broker control address for the SDK, HOST:PORT. */
  control: string;
  /** Kafka consumer group, for kafka-consumer. */
  group: string;
  /** Target records per second for producers, and records per send. */
  recordsPerSecond: number;
  recordsPerSend: number;
}

/** The counters a client reports to the runner every PROGRESS_MS. */
export interface Progress {
  acked: number;
  failed: number;
  reads: number;
  errors: number;
  lastError?: string;
}

const PROGRESS_MS = 250;

export class ClientRuntime {
  readonly settings: ClientSettings;
  readonly history: HistoryWriter;
  readonly progress: Progress = { acked: 0, failed: 0, reads: 0, errors: 0 };
  stopping = false;
  private readonly stopWaiters: (() => void)[] = [];

  constructor() {
    this.settings = JSON.parse(process.argv[2]) as ClientSettings;
    this.history = new HistoryWriter(this.settings.historyFile);
    const timer = setInterval(() => this.report(), PROGRESS_MS);
    timer.unref();
    process.on('message', (m) => {
      if (m === 'stop') this.stop();
    });
    // The runner is gone: nobody will read this history any more.
    process.on('disconnect', () => process.exit(3));
  }

  report(): void {
    if (process.connected) process.send!({ progress: this.progress });
  }

  error(err: unknown): void {
    this.progress.errors++;
    this.progress.lastError = String((err as Error)?.message ?? err).slice(0, 300);
    // The client's log (its stderr) keeps every error, for a reader of a failed run.
    process.stderr.write(`${new Date().toISOString()} ${this.progress.lastError}\n`);
  }

  private stop(): void {
    this.stopping = true;
    for (const w of this.stopWaiters.splice(0)) w();
  }

  /** Sleeps `ms`, or less when a stop comes. */
  sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.stopWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  finish(): never {
    this.report();
    this.history.close();
    process.exit(0);
  }
}

export class TimeoutError extends Error {}

/** `promise`, or a TimeoutError after `ms`; the promise itself is left to finish or fail unseen. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  promise.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new TimeoutError(`${what}: no answer within ${ms} ms`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** Closes an abandoned client without waiting on it for long, and without failing. */
export async function abandon(close: () => Promise<unknown>): Promise<void> {
  await withTimeout(Promise.resolve().then(close), 3000, 'close').catch(() => undefined);
}

/** Paces a producer loop to `perSecond` sends. */
export class Pacer {
  private next = Date.now();
  constructor(private readonly intervalMs: number) {}
  async wait(runtime: ClientRuntime): Promise<void> {
    this.next = Math.max(this.next + this.intervalMs, Date.now() - 1000);
    const ms = this.next - Date.now();
    if (ms > 0) await runtime.sleep(ms);
  }
}

/** A kafkajs client for a workload process: short timeouts, bounded retries, silent (its history is the record). */
export function workloadKafka(settings: ClientSettings, retries: number): Kafka {
  return new Kafka({
    clientId: settings.name,
    brokers: settings.kafka.split(','),
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    requestTimeout: 10_000,
    retry: { retries, initialRetryTime: 200, maxRetryTime: 2000 },
  });
}
