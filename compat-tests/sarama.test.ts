// sarama (Go; Debian's golang-github-shopify-sarama-dev), unchanged, against
// rdmq's Kafka gateway: cluster admin, an idempotent producer with snappy and
// zstd, a consumer group that commits. The Go side is compat-tests/go/roundtrip.go,
// built here with Debian's Go toolchain and packaged sources (no network).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ClusterProcess, startCluster } from '../bench/cluster';
import { buildGoProgram, run } from './testing/go';


interface Roundtrip {
  listed: boolean;
  sent: string[];
  received: { partition: number; offset: number; key: string; value: string; header: string }[];
  committed: Record<string, number>;
}

describe('sarama (Go) against the rdmq gateway', () => {
  let gateway: ClusterProcess;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rdmq-sarama-'));
  let binary: string;

  beforeAll(async () => {
    binary = await buildGoProgram('roundtrip', dir);
    gateway = await startCluster({ regionSize: '256M' });
  }, 240_000);

  afterAll(async () => {
    await gateway?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates a topic, produces idempotently with snappy and zstd, and a group consumes and commits everything', async () => {
    const result = JSON.parse((await run(binary, [gateway.kafka, 'sarama'])).trim().split('\n').pop()!) as Roundtrip;
    expect(result.listed).toBe(true);
    expect(result.received.map((m) => m.value).sort()).toEqual([...result.sent].sort());
    for (const m of result.received) {
      expect(m.header).toBe('go');
      expect(m.key).toBe(`k${m.value.split('-')[1]}`);
    }
    for (let p = 0; p < 3; p++) {
      const offsets = result.received.filter((m) => m.partition === p).map((m) => m.offset).sort((a, b) => a - b);
      expect(offsets).toEqual(offsets.map((_, i) => i));
      expect(result.committed[String(p)]).toBe(offsets.length);
    }
    expect(gateway.failures()).toEqual([]);
  }, 90_000);
});
