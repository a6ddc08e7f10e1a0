// The chaos topology "cluster" (`rdmq cluster start`) inside `npm test`: three
// storage nodes at replication factor 3, two brokers on etcd, a gateway; a
// storage node, the first leader and the gateway SIGKILLed in turn under both
// doors and restarted through the launcher, then every partition read back
// and checked. `npm run chaos` runs the same topology at length.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CHAOS_DEFAULTS, phaseLine, runChaos } from './run';

describe('npm run chaos -- --topology cluster, briefly', () => {
  it('kills a storage node, the leader broker and a gateway of rdmq cluster start under both doors, restarts each with restart-member, and finds no anomaly and no stall', async () => {
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rdmq-chaos-cluster-test-'));
    const lines: string[] = [];
    const result = await runChaos({
      ...CHAOS_DEFAULTS,
      topologies: ['cluster'],
      cluster: { storageNodes: 3, brokers: 2, gateways: 1 },
      faultRoles: ['storage-1', 'broker-0', 'gateway-0'],
      faults: ['kill'],
      rounds: 3,
      seconds: 45,
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
    // Each was killed and came back; both doors were loaded; every partition was read back.
    expect(phase.rounds.map((r) => `${r.fault} ${r.role}`).sort()).toEqual(['kill broker-0', 'kill gateway-0', 'kill storage-1']);
    expect(phase.acked.kafka).toBeGreaterThan(0);
    expect(phase.acked.sdk).toBeGreaterThan(0);
    expect(phase.result.stats.reads).toBeGreaterThan(0);
    expect({ phase: phaseLine(phase), readErrors: phase.readErrors }).toEqual({ phase: phaseLine(phase), readErrors: [] });
    expect({ valid: result.valid, report }).toEqual({ valid: true, report });
    fs.rmSync(outDir, { recursive: true, force: true });
  }, 300_000);
});
