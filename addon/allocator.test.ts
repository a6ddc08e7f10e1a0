// keepFreedMemory: a process that allocates and frees MiB buffers over and
// over reuses the pages it touched, instead of faulting fresh ones in for
// each buffer. Counted as the minor page faults of a child process doing
// exactly that, with and without the setting (malloc's settings are
// per process, so each case runs in a process of its own).
import { execFileSync } from 'child_process';
import * as path from 'path';

const CHURN = `
const addon = require(${JSON.stringify(path.join(__dirname, 'index.js'))});
const kept = process.argv[1] === 'keep' ? addon.keepFreedMemory() : false;
const live = [];
const churn = (rounds) => {
  for (let i = 0; i < rounds; i++) {
    const b = Buffer.allocUnsafe(1 << 20);
    for (let at = 0; at < b.length; at += 4096) b[at] = i;
    live.push(b);
    if (live.length > 8) live.shift();
    if (i % 16 === 15) global.gc();
  }
};
churn(64); // the heap reaches its working size
const before = process.resourceUsage().minorPageFault;
churn(256);
console.log(JSON.stringify({ kept, faults: process.resourceUsage().minorPageFault - before }));
`;

function churnFaults(mode: 'keep' | 'default', env: NodeJS.ProcessEnv = process.env): { kept: boolean; faults: number } {
  const out = execFileSync(process.execPath, ['--expose-gc', '-e', CHURN, mode], { env, encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as { kept: boolean; faults: number };
}

// 200 MiB of 1 MiB buffers touched, then dropped: how much of it is still
// resident `waitMs` later, with the idle check every `checkEveryMs`.
const HOLD_THEN_DROP = `
const fs = require('fs');
const addon = require(${JSON.stringify(path.join(__dirname, 'index.js'))});
const rssAnonMiB = () => Number(/RssAnon:\\s+(\\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
const [checkEveryMs, waitMs] = process.argv.slice(1).map(Number);
const kept = addon.keepFreedMemory(process.env, checkEveryMs);
const baseline = rssAnonMiB();
let live = [];
for (let i = 0; i < 200; i++) live.push(Buffer.alloc(1 << 20, i));
const peak = rssAnonMiB() - baseline;
live = [];
global.gc();
const droppedAt = Date.now();
const left = [];
const poll = setInterval(() => {
  left.push(rssAnonMiB() - baseline);
  if (Date.now() - droppedAt < waitMs) return;
  clearInterval(poll);
  console.log(JSON.stringify({ kept, peak, justAfter: left[0], atEnd: left[left.length - 1] }));
}, 50);
`;

function holdThenDrop(checkEveryMs: number, waitMs: number, env: NodeJS.ProcessEnv): { kept: boolean; peak: number; justAfter: number; atEnd: number } {
  const out = execFileSync(process.execPath, ['--expose-gc', '-e', HOLD_THEN_DROP, String(checkEveryMs), String(waitMs)], { env, encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as { kept: boolean; peak: number; justAfter: number; atEnd: number };
}

describe('keepFreedMemory', () => {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MALLOC_')));

  it('lets 256 MiB of 1 MiB buffers, allocated and freed in turn, reuse touched pages instead of faulting in fresh ones', () => {
    const kept = churnFaults('keep', clean);
    // glibc's default moves its mmap threshold up after it frees a mapped block, so how much of the churn
    // it maps fresh varies from run to run (5,800-19,000 faults here, by load). The baseline pins the
    // threshold it starts with (128 KiB): every 1 MiB buffer is a fresh mapping, faulted in page by page.
    const fresh = churnFaults('default', { ...clean, MALLOC_MMAP_THRESHOLD_: String(128 * 1024) });
    expect(kept.kept).toBe(true);
    // 256 buffers of 256 pages each: mapped fresh, nearly every page faults; kept, 900-4,600 faults here.
    expect(fresh.faults).toBeGreaterThan(256 * 200);
    expect(kept.faults).toBeLessThan(fresh.faults / 4);
  });

  it('hands the kept memory back to the system once the process has gone idle after work', () => {
    const released = holdThenDrop(100, 1500, clean);
    // The same without an idle check within the wait: the memory stays kept, so the release is what returns it.
    const held = holdThenDrop(60_000, 1500, clean);
    expect(released.kept).toBe(true);
    expect(released.peak).toBeGreaterThan(190);
    expect(held.atEnd).toBeGreaterThan(150);
    expect(released.atEnd).toBeLessThan(50);
  });

  it("leaves malloc alone when the operator set glibc's own thresholds", () => {
    expect(churnFaults('keep', { ...clean, MALLOC_TRIM_THRESHOLD_: '1000000' }).kept).toBe(false);
  });
});
