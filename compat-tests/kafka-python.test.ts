// kafka-python (Debian's python3-kafka 2.0.2), unchanged, against rdmq's Kafka
// gateway: admin, keyed produce with headers (none and gzip), a consumer
// group with commits. The Python side is compat-tests/python/roundtrip.py.
import { execFile } from 'child_process';
import * as path from 'path';
import { ClusterProcess, startCluster } from '../bench/cluster';

const SCRIPT = path.join(__dirname, '..', '..', 'compat-tests', 'python', 'roundtrip.py');

interface Roundtrip {
  topics: string[];
  sent: string[];
  received: { partition: number; offset: number; key: string; value: string; headers: [string, string][] }[];
  committed: Record<string, number>;
  group: { state: string; protocol_type: string };
}

function roundtrip(bootstrap: string, topic: string): Promise<Roundtrip> {
  return new Promise((resolve, reject) =>
    // Debian's interpreter, where python3-kafka is installed (not a pyenv or venv one on PATH).
    execFile('/usr/bin/python3', [SCRIPT, bootstrap, topic], { timeout: 60_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`roundtrip.py failed: ${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout.trim().split('\n').pop()!) as Roundtrip),
    ),
  );
}

describe('kafka-python against the rdmq gateway', () => {
  let gateway: ClusterProcess;

  beforeAll(async () => {
    gateway = await startCluster({ regionSize: '256M' });
  });

  afterAll(async () => {
    await gateway?.stop();
  });

  it('creates a topic, produces keyed messages with headers, and a group consumes and commits them', async () => {
    const result = await roundtrip(gateway.kafka, 'python');
    expect(result.topics).toContain('python');
    expect(result.received.map((m) => m.value).sort()).toEqual([...result.sent].sort());
    for (const m of result.received) {
      expect(m.headers).toEqual([['origin', 'python']]);
      expect(m.key).toBe(`k${m.value.split('-')[1]}`);
    }
    // One key always lands on one partition, and each partition's offsets run 0, 1, 2, ... in order.
    const byKey = new Map<string, Set<number>>();
    for (const m of result.received) byKey.set(m.key, (byKey.get(m.key) ?? new Set()).add(m.partition));
    for (const partitions of byKey.values()) expect(partitions.size).toBe(1);
    for (let p = 0; p < 3; p++) {
      const offsets = result.received.filter((m) => m.partition === p).map((m) => m.offset);
      expect(offsets).toEqual(offsets.map((_, i) => i));
      expect(result.committed[String(p)]).toBe(offsets.length);
    }
    expect(result.group).toEqual({ state: 'Empty', protocol_type: 'consumer' });
    expect(gateway.failures()).toEqual([]);
  }, 90_000);
});
