import { ChildProcess, execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import { startRole } from '../bench/cluster';

const run = promisify(execFile);
const MAIN = path.join(__dirname, 'main.js');

function rdmq(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [MAIN, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** Starts a server role and resolves once it printed its ready line. */
async function serve(args: string[]): Promise<{ child: ChildProcess; controlPort: number; kafkaPort?: number }> {
  const { child, ready } = await startRole<{ controlPort: number; kafkaPort?: number }>([MAIN, ...args]);
  return { child, controlPort: ready.controlPort, kafkaPort: ready.kafkaPort };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

describe('rdmq CLI', () => {
  it.each([
    [['start', '--durability', 'fast'], /bad value for --durability: allowed values are none, flush, sync/],
    [['start', '--control', 'nohost'], /bad value for --control: must be HOST:PORT/],
    [['start', '--segment-size', '10000'], /segment size must be a multiple of 4096/],
    [['start', '--region-size', 'lots'], /"lots" is not a size/],
    [['start', '--no-such-flag'], /unknown option '--no-such-flag' \(see rdmq start --help\)/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['broker'], /rdmq broker needs --storage HOST:PORT/],
    [['broker', '--storage', '127.0.0.1:1', '--etcd', 'localhost:2379'], /bad value for --etcd: must be http:\/\/HOST:PORT/],
    [['broker', '--storage', '127.0.0.1:1', '--etcd', 'http://127.0.0.1:2379', '--etcd-lease-ttl', '0'], /bad value for --etcd-lease-ttl/],
    [['start', '--etcd', 'http://127.0.0.1:2379'], /--etcd, --etcd-prefix and --etcd-lease-ttl are options of rdmq broker/],
    [['start', '--control', '127.0.0.1:1,127.0.0.1:2'], /--control of rdmq start is the one address it listens on; a list is for rdmq gateway/],
    [['start', '--auto-create-topics', 'maybe'], /bad value for --auto-create-topics: allowed values are true, false/],
    [['start', '--max-buffered-request-bytes', '10M'], /maxBufferedRequestBytes must be at least maxFrameBytes/],
    [['start', '--max-fetch-memory-bytes', 'plenty'], /bad value for --max-fetch-memory-bytes: max fetch memory bytes "plenty" is not a size/],
    [['start', '--idle-timeout-ms', '5'], /bad value for --idle-timeout-ms: Too small: expected number to be >=100/],
    [['start', '--super-users', 'alice'], /bad value for --super-users: each must be a principal such as 'User:admin'/],
    [['start', '--allow-everyone-if-no-acl-found', 'maybe'], /bad value for --allow-everyone-if-no-acl-found: allowed values are true, false/],
    [['acls', 'grant'], /the action must be one of add, remove, list, got grant/],
  ])('rejects %j with one clear line and no stack trace', async (args, message) => {
    const { code, stderr } = await rdmq(args as string[]);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('runs the storage node and the broker as separate processes, and produces and consumes lines through them', async () => {
    const dir = fs.mkdtempSync('/dev/shm/rdmq-cli-');
    const common = ['--region-size', '128M', '--segment-size', '4M', '--fastpath', '127.0.0.1:0', '--control', '127.0.0.1:0', '--metrics', '127.0.0.1:0'];
    const storage = await serve(['storage', '--data', path.join(dir, 'storage'), ...common]);
    const broker = await serve(['broker', '--data', path.join(dir, 'broker'), '--storage', `127.0.0.1:${storage.controlPort}`, '--kafka', '127.0.0.1:0', '--auto-create-topics', 'false', ...common]);
    const control = ['--control', `127.0.0.1:${broker.controlPort}`];
    try {
      expect((await rdmq(['topics', 'create', 'lines', '--partitions', '3', ...control])).stdout).toMatch(/created topic lines with 3 partition/);
      expect((await rdmq(['topics', 'list', ...control])).stdout).toBe('lines\n');
      const input = Array.from({ length: 2500 }, (_, i) => `line ${i}`).join('\n') + '\n';
      expect((await rdmq(['produce', 'lines', ...control], input)).stderr).toMatch(/produced 2500 message/);
      const consumed = await rdmq(['consume', 'lines', '--from-beginning', '--max-messages', '2500', ...control]);
      const lines = consumed.stdout.trim().split('\n');
      expect(lines).toHaveLength(2500);
      expect(new Set(lines)).toEqual(new Set(input.trim().split('\n')));
      const status = (await rdmq(['status', ...control])).stdout;
      expect(status).toMatch(/storage \d+ segments in [\d.]+ KiB, [\d.]+ MiB free, [\d.]+ KiB committed/);
      expect(status).toMatch(/lines\s+2\s+0\s+\d+\s+1/);
      // Kafka clients do not create topics here (--auto-create-topics false): kcat gets an unknown topic.
      const kcat = await run('/usr/bin/kcat', ['-b', `127.0.0.1:${broker.kafkaPort}`, '-L', '-J', '-t', 'not-created']);
      expect(JSON.parse(kcat.stdout).topics).toEqual([expect.objectContaining({ topic: 'not-created', error: expect.stringMatching(/Unknown topic/i) })]);
      expect((await rdmq(['topics', 'list', ...control])).stdout).toBe('lines\n');
      const described = (await rdmq(['topics', 'describe', 'lines', ...control])).stdout;
      expect(described).toMatch(/partition 2: offsets 0\.\.\d+/);
      expect((await rdmq(['topics', 'delete', 'lines', ...control])).stdout).toMatch(/deleted topic lines/);
      expect((await rdmq(['topics', 'describe', 'lines', ...control])).stderr).toMatch(/lines/);
    } finally {
      await stop(broker.child);
      await stop(storage.child);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
