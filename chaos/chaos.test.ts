// A short chaos run inside `npm test`: both topologies, one fault round per
// role, both doors loaded, then every partition read back and checked. The
// long run is `npm run chaos` (docs/RELIABILITY.md).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CHAOS_DEFAULTS, phaseLine, runChaos } from './run';

describe('npm run chaos, briefly', () => {
  it('kills and pauses every role of rdmq start and of the roles apart under both doors, and finds no anomaly and no stall', async () => {
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rdmq-chaos-test-'));
    const lines: string[] = [];
    const result = await runChaos({
      ...CHAOS_DEFAULTS,
      topologies: ['start', 'apart'],
      rounds: 4,
      seconds: 90,
      seed: 20261201,
      recordsPerSecond: 100,
      recoveryTimeoutMs: 15_000,
      regionSize: '256M',
      outDir,
      log: (line) => {
        lines.push(line);
        if (process.env.CHAOS_VERBOSE) process.stderr.write(`${line}\n`);
      },
    });
    const report = `${result.summary}\n${lines.join('\n')}\n(details in ${result.historyFile})`;
    expect(result.phases.map((p) => p.topology)).toEqual(['start', 'apart']);
    for (const phase of result.phases) {
      // The run itself did what it claims: faults injected, both doors loaded, every partition read back.
      expect(phase.rounds.length).toBeGreaterThan(0);
      expect(phase.acked.kafka).toBeGreaterThan(0);
      expect(phase.acked.sdk).toBeGreaterThan(0);
      expect(phase.result.stats.reads).toBeGreaterThan(0);
      expect({ phase: phaseLine(phase), readErrors: phase.readErrors }).toEqual({ phase: phaseLine(phase), readErrors: [] });
    }
    expect({ valid: result.valid, report }).toEqual({ valid: true, report });
    fs.rmSync(outDir, { recursive: true, force: true });
  }, 300_000);
});
