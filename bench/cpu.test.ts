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
});
