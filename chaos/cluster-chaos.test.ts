// The chaos topology "cluster" (`rdmq cluster start`) inside `npm test`, as far
// as one storage node and one broker allow: gateways SIGKILLed and restarted
// through the launcher under both doors, then every partition read back and
// checked. With replication and broker HA the same run goes on to storage
// nodes and the leader broker (npm run chaos -- --topology cluster
// --storage-nodes 3 --brokers 2 --gateways 2).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CHAOS_DEFAULTS, phaseLine, runChaos } from './run';

describe('npm run chaos -- --topology cluster, briefly', () => {
  it('kills each gateway of rdmq cluster start under both doors, restarts it with restart-member, and finds no anomaly and no stall', async () => {
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rdmq-chaos-cluster-test-'));
    const lines: string[] = [];
    const result = await runChaos({
      ...CHAOS_DEFAULTS,
      topologies: ['cluster'],
      cluster: { storageNodes: 1, brokers: 1, gateways: 2 },
      faultRoles: ['gateway'],
      faults: ['kill'],
      rounds: 2,
      seconds: 30,
      seed: 20261201,
      recordsPerSecond: 100,
      regionSize: '256M',
      outDir,
      log: (line) => {
        lines.push(line);
        if (process.env.CHAOS_VERBOSE) process.stderr.write(`${line}\n`);
      },
    });
    const report = `${result.summary}\n${lines.join('\n')}\n(details in ${result.historyFile})`;
    const [phase] = result.phases;
    expect(phase.topology).toBe('cluster');
    // Both gateways were killed and came back; both doors were loaded; every partition was read back.
    expect(phase.rounds.map((r) => `${r.fault} ${r.role}`).sort()).toEqual(['kill gateway-0', 'kill gateway-1']);
    expect(phase.acked.kafka).toBeGreaterThan(0);
    expect(phase.acked.sdk).toBeGreaterThan(0);
    expect(phase.result.stats.reads).toBeGreaterThan(0);
    expect({ phase: phaseLine(phase), readErrors: phase.readErrors }).toEqual({ phase: phaseLine(phase), readErrors: [] });
    expect({ valid: result.valid, report }).toEqual({ valid: true, report });
    fs.rmSync(outDir, { recursive: true, force: true });
  }, 300_000);
});
