// Starts `rdmq gateway` (a Kafka gateway of its own, joined to a broker) in a
// child process for tests, and waits for its ready line.
import { ChildProcess, spawn } from 'child_process';
import * as path from 'path';
import * as readline from 'readline';

export interface RemoteGatewayProcess {
  child: ChildProcess;
  nodeId: number;
  kafka: string;
  metricsPort: number;
  /** Its stderr so far (last 64 KiB). */
  stderr(): string;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

const MAIN = path.join(__dirname, '..', '..', 'cli', 'main.js');

/** Spawns `rdmq gateway --control CONTROL`; rejects with its stderr when it exits before it is ready. */
export async function startRemoteGatewayProcess(control: string, extraArgs: string[] = []): Promise<RemoteGatewayProcess> {
  const args = [MAIN, 'gateway', '--control', control, '--kafka', '127.0.0.1:0', '--metrics', '127.0.0.1:0', ...extraArgs];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-65536);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await new Promise<{ kafkaPort: number; metricsPort: number; nodeId: number }>((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).once('line', (line) => resolve(JSON.parse(line)));
    child.once('exit', (code, signal) => reject(new Error(`rdmq gateway exited (${code ?? signal}) before it was ready:\n${stderr}`)));
  });
  const signal = async (name: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(name);
    await exited;
  };
  return {
    child,
    nodeId: ready.nodeId,
    kafka: `127.0.0.1:${ready.kafkaPort}`,
    metricsPort: ready.metricsPort,
    stderr: () => stderr,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
  };
}
