import { spawn } from 'child_process';
import { CpuMeter } from './cpu';

/** A child process that burns `ms` of CPU time (however busy the machine), then exits. */
function burn(ms: number): Promise<void> {
  const script = `const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; }; while (cpuMs() < ${ms});`;
  const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

describe('CPU accounting', () => {
  it('counts a child process that exits inside a measured phase as client CPU, and one outside it not at all', async () => {
    await burn(400); // outside any phase
    const meter = new CpuMeter(undefined);
    await meter.measure(() => burn(400));
    const { client, clientChildren, server } = meter.seconds;
    // Ticks are 10 ms.
    expect(clientChildren).toBeGreaterThanOrEqual(0.39);
    expect(clientChildren).toBeLessThan(0.7);
    expect(client).toBeGreaterThanOrEqual(clientChildren);
    expect(server).toBe(0);
  });

  it("counts a few milliseconds of a server process's CPU, finer than the 10 ms ticks of /proc/PID/stat, and nothing while it idles", async () => {
    // A server that burns the CPU milliseconds it is sent on stdin, then says "done".
    const script = `const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
      process.stdin.on('data', (d) => { const end = cpuMs() + Number(d); while (cpuMs() < end); process.stdout.write('done'); });`;
    const server = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'ignore'] });
    const work = (ms: number) =>
      new Promise<void>((resolve) => {
        server.stdout!.once('data', () => resolve());
        server.stdin!.write(String(ms));
      });
    try {
      await work(1); // started and listening
      const busy = new CpuMeter(server.pid);
      await busy.measure(() => work(4));
      expect(busy.seconds.server).toBeGreaterThanOrEqual(0.004);
      expect(busy.seconds.server).toBeLessThan(0.05);
      const idle = new CpuMeter(server.pid);
      await idle.measure(() => new Promise((resolve) => setTimeout(resolve, 50)));
      expect(idle.seconds.server).toBeLessThan(0.004);
      expect(idle.seconds.serverByRole).toBeUndefined();
      // Named by role (the roles apart): each process's share, adding up to the server's.
      const roles = new CpuMeter({ busy: server.pid!, idle: process.pid });
      await roles.measure(() => work(4));
      const { server: total, serverByRole } = roles.seconds;
      expect(Object.keys(serverByRole!)).toEqual(['busy', 'idle']);
      expect(serverByRole!.busy).toBeGreaterThanOrEqual(0.004);
      expect(serverByRole!.busy + serverByRole!.idle).toBeCloseTo(total, 9);
    } finally {
      server.kill();
    }
  });
});
