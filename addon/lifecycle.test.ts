import { execFile } from 'child_process';
import * as path from 'path';
import { promisify } from 'util';

const run = promisify(execFile);

describe('addon lifecycle', () => {
  it('keeps RSS flat while regions and endpoints are opened and closed 2,000 times', async () => {
    const { stdout } = await run(process.execPath, ['--expose-gc', path.join(__dirname, 'testing', 'churn.js'), '2000'], {
      timeout: 120_000,
    });
    const { rssAfterWarmup, rssAtEnd } = JSON.parse(stdout) as { rssAfterWarmup: number; rssAtEnd: number };
    expect(rssAtEnd).toBeLessThanOrEqual(rssAfterWarmup * 1.1);
  });

  it('lets a process that used the addon exit cleanly 200 times out of 200', async () => {
    const script = path.join(__dirname, 'testing', 'exit-check.js');
    const failures: string[] = [];
    const runs = Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? 'tidy' : 'abrupt'));
    const concurrency = 4;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < runs.length) {
        const i = next++;
        try {
          // A hang at exit shows up as the timeout killing the child.
          await run(process.execPath, [script, runs[i]], { timeout: 20_000, killSignal: 'SIGKILL' });
        } catch (err) {
          const e = err as { code?: number; signal?: string; killed?: boolean; stderr?: string };
          failures.push(`run ${i} (${runs[i]}): code=${e.code} signal=${e.signal} killed=${e.killed} ${e.stderr ?? ''}`);
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    expect(failures).toEqual([]);
  }, 300_000);
});
