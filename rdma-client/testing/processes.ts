// Running test helpers in their own processes and reading their JSON lines.
import { ChildProcess, spawn } from 'child_process';
import * as path from 'path';
import * as readline from 'readline';

export interface JsonLineProcess<T> {
  child: ChildProcess;
  lines: T[];
  /** Resolves with the first line matching `predicate`. */
  waitFor(predicate: (line: T) => boolean, timeoutMs?: number): Promise<T>;
  exited: Promise<number | null>;
}

export function spawnScript<T>(script: string, args: string[]): JsonLineProcess<T> {
  const child = spawn(process.execPath, [path.join(__dirname, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: T[] = [];
  const waiters: { predicate: (line: T) => boolean; resolve: (line: T) => void }[] = [];
  readline.createInterface({ input: child.stdout! }).on('line', (text) => {
    const line = JSON.parse(text) as T;
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.predicate(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    lines,
    exited,
    waitFor: (predicate, timeoutMs = 30_000) => {
      const found = lines.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${script}: no matching line within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          predicate,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
      });
    },
  };
}
