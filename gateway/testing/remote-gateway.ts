// Starts `rdmq gateway` (a Kafka gateway of its own, joined to a broker) in a
// child process for tests, and waits for its ready line.
import { ChildProcess } from 'child_process';
import * as path from 'path';
import { startRole } from '../../bench/cluster';

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
  const role = await startRole<{ kafkaPort: number; metricsPort: number; nodeId: number }>([
    MAIN, 'gateway', '--control', control, '--kafka', '127.0.0.1:0', '--metrics', '127.0.0.1:0', ...extraArgs,
  ]);
  return {
    child: role.child,
    nodeId: role.ready.nodeId,
    kafka: `127.0.0.1:${role.ready.kafkaPort}`,
    metricsPort: role.ready.metricsPort,
    stderr: role.stderr,
    stop: () => role.signal('SIGTERM'),
    kill: () => role.signal('SIGKILL'),
  };
}
