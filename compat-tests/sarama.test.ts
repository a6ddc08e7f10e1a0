// sarama (Go; Debian's golang-github-shopify-sarama-dev), unchanged, against
// rdmq's Kafka gateway: cluster admin, an idempotent producer with snappy and
// zstd, a consumer group that commits. The Go side is compat-tests/go/roundtrip.go,
// built here with Debian's Go toolchain and packaged sources (no network).
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ClusterProcess, startCluster } from '../bench/cluster';

const SOURCE = path.join(__dirname, '..', '..', 'compat-tests', 'go', 'roundtrip.go');

interface Roundtrip {
  listed: boolean;
  sent: string[];
  received: { partition: number; offset: number; key: string; value: string; header: string }[];
  committed: Record<string, number>;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(file, args, { timeout: timeoutMs, env: { ...process.env, ...env }, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${path.basename(file)} ${args.join(' ')} failed: ${err.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
}

describe('sarama (Go) against the rdmq gateway', () => {
  let gateway: ClusterProcess;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rdmq-sarama-'));
  const binary = path.join(dir, 'roundtrip');

  beforeAll(async () => {
    // GOPATH mode over Debian's packaged sources; the build cache outlives the test so later runs are quick.
    await run('/usr/bin/go', ['build', '-o', binary, SOURCE], {
      GO111MODULE: 'off',
      GOPATH: '/usr/share/gocode',
      GOCACHE: path.join(os.tmpdir(), 'rdmq-gocache'),
      GOFLAGS: '',
    });
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
