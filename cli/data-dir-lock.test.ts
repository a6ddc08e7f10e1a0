// One process per data directory: a second server on the same --data stops at
// once, naming the holder, and the kernel frees the directory when the holder
// dies, however it dies.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { startCluster } from '../bench/cluster';
import { DataDirLockedError, lockDataDir } from './data-dir-lock';

const MAIN = path.join(__dirname, 'main.js');

function rdmq(args: string[]): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr, ms: Date.now() - started });
    });
  });
}

const ports = ['--control', '127.0.0.1:0', '--fastpath', '127.0.0.1:0', '--metrics', '127.0.0.1:0', '--kafka', '127.0.0.1:0', '--region-size', '64M', '--segment-size', '4M'];

describe('the data directory lock', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync('/dev/shm/rdmq-lock-');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a second rdmq start, storage or broker on a used --data fails at once with one line naming the holder', async () => {
    const first = await startCluster({ dataDir: dir, regionSize: '64M', segmentSize: '4M' });
    try {
      const created = await rdmq(['topics', 'create', 'kept', '--partitions', '2', '--control', first.control]);
      expect(created.code).toBe(0);
      for (const role of [['start'], ['storage'], ['broker', '--storage', '127.0.0.1:1']]) {
        const second = await rdmq([...role, '--data', dir, ...ports]);
        expect(second.code).toBe(2);
        const lines = second.stderr.trim().split('\n');
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(new RegExp(`data directory ${dir} is in use by pid ${first.child.pid} \\(rdmq start, since \\d{4}-\\d\\d-\\d\\dT`));
        expect(second.stdout).toBe('');
      }
      // The holder is undisturbed: its topic is still there.
      const listed = await rdmq(['topics', 'list', '--control', first.control]);
      expect(listed.stdout).toMatch(/kept/);
    } finally {
      await first.kill();
    }
    // SIGKILL leaves the lock file behind, but not the lock: a restart on the same data owns it and finds the topic.
    expect(fs.existsSync(path.join(dir, 'lock'))).toBe(true);
    const again = await startCluster({ dataDir: dir, regionSize: '64M', segmentSize: '4M' });
    try {
      const listed = await rdmq(['topics', 'list', '--control', again.control]);
      expect(listed.stdout).toMatch(/kept/);
    } finally {
      await again.stop({ keepData: true });
    }
  }, 60_000);

  it('is released when its holder closes, and a closed lock can be taken again in the same process', () => {
    const lock = lockDataDir(dir, 'test');
    expect(() => lockDataDir(dir, 'other')).toThrow(DataDirLockedError);
    try {
      lockDataDir(dir, 'other');
    } catch (err) {
      expect((err as DataDirLockedError).holder).toMatchObject({ pid: process.pid, command: 'test' });
    }
    lock.release();
    lock.release();
    const next = lockDataDir(dir, 'again');
    next.release();
  });
});
