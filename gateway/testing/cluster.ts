// Starts storage + broker + gateway (testing/embedded.ts) in a child process
// with its data in a fresh temporary directory, and waits for its ready line.
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as readline from 'readline';
import type { GatewayLimitsInput } from '../config';

export interface GatewayProcess {
  child: ChildProcess;
  dataDir: string;
  /** Kafka bootstrap address, HOST:PORT. */
  kafka: string;
  kafkaPort: number;
  /** Broker control address for the fast-path SDK, HOST:PORT. */
  control: string;
  /** The process's stderr so far (last 64 KiB). */
  stderr(): string;
  /** Lines of stderr so far that match `pattern` (all of them, not only the last 64 KiB). */
  stderrLines(pattern: RegExp): string[];
  /** SIGTERM and wait; removes the data unless keepData. */
  stop(options?: { keepData?: boolean }): Promise<void>;
  kill(): Promise<void>;
}

export interface GatewayProcessOptions {
  dataDir?: string;
  durability?: 'none' | 'flush' | 'sync';
  segmentSize?: string;
  regionSize?: string;
  autoCreateTopics?: boolean;
  limits?: GatewayLimitsInput;
  /** Extra V8 flags, e.g. ['--max-old-space-size=256']. */
  nodeFlags?: string[];
}

const SCRIPT = path.join(__dirname, 'embedded.js');

export async function startGatewayProcess(options: GatewayProcessOptions = {}): Promise<GatewayProcess> {
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(base, 'rdmq-gateway-'));
  const args = [
    ...(options.nodeFlags ?? []),
    SCRIPT,
    '--data', dataDir,
    '--durability', options.durability ?? 'flush',
    '--segment-size', options.segmentSize ?? '16M',
    '--region-size', options.regionSize ?? '256M',
    '--limits', JSON.stringify(options.limits ?? {}),
    ...(options.autoCreateTopics === false ? ['--no-auto-create'] : []),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const watched: string[] = [];
  const errorLines = readline.createInterface({ input: child.stderr! });
  errorLines.on('line', (line) => {
    stderr = (stderr + line + '\n').slice(-65536);
    // Handler failures and crashes are kept whole: tests assert there are none.
    if (/failed, closing the connection|TypeError|RangeError|ReferenceError|Uncaught/.test(line) && watched.length < 1000) watched.push(line);
  });
  const lines = readline.createInterface({ input: child.stdout! });
  let started = false;
  const ready = await new Promise<{ kafkaPort: number; controlPort: number }>((resolve, reject) => {
    lines.once('line', (line) => {
      started = true;
      resolve(JSON.parse(line) as { kafkaPort: number; controlPort: number });
    });
    child.once('exit', (code, signal) => {
      if (started) return;
      if (!options.dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
      reject(new Error(`embedded gateway exited (${code ?? signal}) before it was ready:\n${stderr}`));
    });
  });
  const exited = new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
  const cleanup = (keepData?: boolean): void => {
    if (!keepData && !options.dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  };
  return {
    child,
    dataDir,
    kafka: `127.0.0.1:${ready.kafkaPort}`,
    kafkaPort: ready.kafkaPort,
    control: `127.0.0.1:${ready.controlPort}`,
    stderr: () => stderr,
    stderrLines: (pattern) => watched.filter((l) => pattern.test(l)),
    stop: async (o = {}) => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      cleanup(o.keepData);
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      cleanup();
    },
  };
}
