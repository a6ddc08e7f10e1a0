// Fixed loopback ports for roles that restart at the same address are claimed
// host-wide: suites run side by side (and the chaos run beside them), and a
// port one of them has picked but not bound yet, or frees while its etcd or
// role restarts, must not be picked by another.
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { claimPorts, freeLoopbackPort } from './cluster';

const CLAIMS = path.join(os.tmpdir(), 'rdmq-port-claims');

/** A port of the fixed range nobody claimed: one this process claims, then hands back. */
async function unclaimedPort(): Promise<number> {
  const port = await freeLoopbackPort();
  fs.rmSync(path.join(CLAIMS, String(port)));
  return port;
}

/** Claims `ports` from another process that stays alive until `release` is called. */
function claimElsewhere(ports: number[]): Promise<{ release(): void }> {
  const script = `const { claimPorts } = require(${JSON.stringify(path.join(__dirname, 'cluster'))});
    process.stdout.write(claimPorts(${JSON.stringify(ports)}) ? 'claimed\\n' : 'refused\\n'); process.stdin.resume();`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => (d.toString().trim() === 'claimed' ? resolve({ release: () => child.kill('SIGKILL') }) : reject(new Error(d.toString()))));
  });
}

it('a port another live process claimed is not handed out; once that process is gone it may be', async () => {
  const port = await unclaimedPort();
  const other = await claimElsewhere([port]);
  try {
    expect(claimPorts([port])).toBe(false);
  } finally {
    other.release();
  }
  for (;;) {
    // The holder's exit is seen once the kernel reaped it.
    if (claimPorts([port])) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect(Number(fs.readFileSync(path.join(CLAIMS, String(port)), 'utf8'))).toBe(process.pid);
  expect(claimPorts([port])).toBe(false); // handed out once here too
});

it('claims every port of a set or none of them', async () => {
  const [a, b] = [await unclaimedPort(), await unclaimedPort()];
  const other = await claimElsewhere([b]);
  try {
    expect(claimPorts([a, b])).toBe(false);
    expect(fs.existsSync(path.join(CLAIMS, String(a)))).toBe(false);
  } finally {
    other.release();
  }
});

it('a claim file naming no live process (a crashed run, a garbage pid) is taken over', async () => {
  const port = await unclaimedPort();
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
  fs.writeFileSync(path.join(CLAIMS, String(port)), dead);
  expect(claimPorts([port])).toBe(true);
  const other = await unclaimedPort();
  fs.writeFileSync(path.join(CLAIMS, String(other)), 'not a pid');
  expect(claimPorts([other])).toBe(true);
});
