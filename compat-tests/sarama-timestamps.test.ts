// sarama (Go), unchanged, asks `rdmq start` which offset a timestamp falls
// on, over a topic it filled with every codec on 3 partitions. sarama leaves
// each batch's MaxTimestamp at -1 and carries the real times in the records'
// deltas, so the answer must come from the records. The Go side is
// compat-tests/go/timestamps.go, built with Debian's Go toolchain and packaged
// sources (no network).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ClusterProcess, startCluster } from '../bench/cluster';
import { buildGoProgram, run } from './testing/go';


interface Timestamps {
  sent: { partition: number; offset: number; timestamp: number; codec: string }[];
  asked: Record<string, number>;
  answers: Record<string, Record<string, number>>;
}

/** What Apache Kafka answers: the first offset whose record timestamp is ≥ ts, or -1. */
function kafkaAnswer(sent: Timestamps['sent'], partition: number, ts: number): number {
  const offsets = sent.filter((m) => m.partition === partition && m.timestamp >= ts).map((m) => m.offset);
  return offsets.length === 0 ? -1 : Math.min(...offsets);
}

describe('sarama (Go) ListOffsets by timestamp against rdmq start', () => {
  let cluster: ClusterProcess;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rdmq-sarama-ts-'));
  let binary: string;

  beforeAll(async () => {
    binary = await buildGoProgram('timestamps', dir);
    cluster = await startCluster({ regionSize: '256M' });
  }, 240_000);

  afterAll(async () => {
    await cluster?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers timestamp 0, a middle timestamp and one past the end as Kafka does, for every codec', async () => {
    const output = await run(binary, [`127.0.0.1:${cluster.kafkaPort}`, 'stamped']);
    const result = JSON.parse(output.trim().split('\n').pop()!) as Timestamps;
    expect(new Set(result.sent.map((m) => m.codec))).toEqual(new Set(['none', 'gzip', 'snappy', 'lz4', 'zstd']));
    expect(new Set(result.sent.map((m) => m.partition))).toEqual(new Set([0, 1, 2]));
    for (const [name, ts] of Object.entries(result.asked)) {
      for (let p = 0; p < 3; p++) {
        expect({ name, partition: p, offset: result.answers[name][String(p)] }).toEqual({ name, partition: p, offset: kafkaAnswer(result.sent, p, ts) });
      }
    }
    // The middle timestamp falls inside the data on at least one partition (not on its first record).
    const middle = [0, 1, 2].map((p) => result.answers.middle[String(p)]);
    expect(middle.some((o) => o > 0)).toBe(true);
  }, 90_000);
});
