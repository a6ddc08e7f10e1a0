// @platformatic/kafka 1.x, a current pure-JavaScript client, unchanged,
// against `rdmq start`: an idempotent producer (its InitProducerId names
// producer id 0, epoch 0 without a transactional id), a consumer group that
// consumes and commits. The client is ESM only, so it runs in its own Node
// process (compat-tests/platformatic/roundtrip.mjs).
import { execFile } from 'child_process';
import * as path from 'path';
import { ClusterProcess, startCluster } from '../bench/cluster';

const SCRIPT = path.join(__dirname, '..', '..', 'compat-tests', 'platformatic', 'roundtrip.mjs');

interface Roundtrip {
  sent: string[];
  received: { partition: number; offset: string; key: string; value: string; header: string }[];
  producer: { producerId: string; producerEpoch: number | null };
  committed: string[];
}

function roundtrip(bootstrap: string, topic: string): Promise<Roundtrip> {
  return new Promise((resolve, reject) =>
    execFile(process.execPath, [SCRIPT, bootstrap, topic], { timeout: 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      err ? reject(new Error(`roundtrip.mjs failed: ${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout.trim().split('\n').pop()!) as Roundtrip),
    ),
  );
}

describe('@platformatic/kafka against rdmq start', () => {
  let cluster: ClusterProcess;

  beforeAll(async () => {
    cluster = await startCluster({ regionSize: '256M' });
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  it('produces idempotently, consumes in a group and commits everything, twice with fresh producers', async () => {
    const ids: string[] = [];
    for (const topic of ['platformatic-a', 'platformatic-b']) {
      const result = await roundtrip(`127.0.0.1:${cluster.kafkaPort}`, topic);
      expect(result.received.map((m) => m.value).sort()).toEqual([...result.sent].sort());
      for (const m of result.received) {
        expect(m.header).toBe('platformatic');
        expect(m.key).toBe(`k${m.value.slice(1)}`);
        expect(m.partition).toBe(Number(m.value.slice(1)) % 2);
      }
      for (const p of [0, 1]) {
        const offsets = result.received.filter((m) => m.partition === p).map((m) => Number(m.offset)).sort((a, b) => a - b);
        expect(offsets).toEqual(offsets.map((_, i) => i));
        expect(result.committed[p]).toBe(String(offsets.length));
      }
      expect(result.producer.producerEpoch).toBe(0);
      ids.push(result.producer.producerId);
    }
    // Each producer got its own id: the second one's InitProducerId fenced nobody.
    expect(new Set(ids).size).toBe(2);
    expect(cluster.stderr()).not.toMatch(/failed, closing the connection|TypeError|RangeError|InitProducerId refused/);
  }, 120_000);
});
