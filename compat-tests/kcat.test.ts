// kcat (librdkafka) against rdmq's Kafka gateway: metadata, produce and
// consume with every compression codec, from an offset, and as a group.
import { execFile } from 'child_process';
import { ClusterProcess, startCluster } from '../bench/cluster';

const KCAT = '/usr/bin/kcat';

interface Run {
  stdout: string;
  stderr: string;
}

function kcat(args: string[], input?: string, timeoutMs = 20_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = execFile(KCAT, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`kcat ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

describe('kcat against the rdmq gateway', () => {
  let gateway: ClusterProcess;
  let broker: string[];

  beforeAll(async () => {
    gateway = await startCluster({ regionSize: '256M' });
    broker = ['-b', gateway.kafka, '-X', 'socket.timeout.ms=10000'];
  });

  afterAll(async () => {
    await gateway?.stop();
  });

  // Every test on its own: a request handler that throws is a bug even when the client copes with the closed connection.
  let failuresBefore = 0;
  beforeEach(() => {
    failuresBefore = gateway.failures().length;
  });
  afterEach(() => {
    expect(gateway.failures().slice(failuresBefore)).toEqual([]);
  });

  it('lists the gateway as the only broker and the topics with their partitions (-L)', async () => {
    await kcat([...broker, '-P', '-t', 'listed'], 'one\n');
    const { stdout } = await kcat([...broker, '-L', '-J']);
    const meta = JSON.parse(stdout) as { brokers: { id: number; name: string }[]; topics: { topic: string; partitions: { partition: number; leader: number; replicas: { id: number }[] }[] }[] };
    expect(meta.brokers).toEqual([{ id: 0, name: gateway.kafka }]);
    const listed = meta.topics.find((t) => t.topic === 'listed')!;
    expect(listed.partitions).toEqual([expect.objectContaining({ partition: 0, leader: 0, replicas: [{ id: 0 }] })]);
  });

  for (const codec of ['none', 'gzip', 'snappy', 'lz4', 'zstd']) {
    it(`produces and consumes keys, values and headers with compression ${codec}`, async () => {
      const topic = `codec-${codec}`;
      const lines = Array.from({ length: 50 }, (_, i) => `key${i}:${codec}-value-${i}-${'x'.repeat(i * 10)}`);
      await kcat([...broker, '-P', '-t', topic, '-z', codec, '-K', ':', '-H', `codec=${codec}`], lines.join('\n') + '\n');
      const { stdout } = await kcat([...broker, '-C', '-t', topic, '-o', 'beginning', '-e', '-f', '%o|%k|%s|%h\n']);
      const got = stdout.trim().split('\n');
      expect(got).toEqual(lines.map((line, i) => {
        const [key, value] = [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1)];
        return `${i}|${key}|${value}|codec=${codec}`;
      }));
    });
  }

  it('consumes from an absolute offset, from the end backwards, and by timestamp', async () => {
    await kcat([...broker, '-P', '-t', 'offsets'], Array.from({ length: 10 }, (_, i) => `m${i}`).join('\n') + '\n');
    const from = async (o: string) => (await kcat([...broker, '-C', '-t', 'offsets', '-o', o, '-e', '-f', '%o:%s\n'])).stdout.trim().split('\n');
    expect(await from('7')).toEqual(['7:m7', '8:m8', '9:m9']);
    expect(await from('-2')).toEqual(['8:m8', '9:m9']);
    expect(await from('s@0')).toHaveLength(10);
    expect(await from('beginning')).toHaveLength(10);
  });

  it('an idempotent producer with five requests in flight stores every message once, in order', async () => {
    const lines = Array.from({ length: 20_000 }, (_, i) => `idempotent-${i}`);
    await kcat([...broker, '-P', '-t', 'idempotent', '-X', 'enable.idempotence=true', '-X', 'max.in.flight=5', '-X', 'linger.ms=1', '-X', 'batch.num.messages=500'], lines.join('\n') + '\n');
    const { stdout } = await kcat([...broker, '-C', '-t', 'idempotent', '-o', 'beginning', '-e', '-f', '%s\n']);
    expect(stdout.trim().split('\n')).toEqual(lines);
  });

  it('a balanced consumer group reads everything once and resumes after its commit', async () => {
    await kcat([...broker, '-P', '-t', 'grouped', '-p', '0'], 'a\nb\nc\n');
    const consume = async () =>
      (await kcat([...broker, '-G', 'kcat-group', '-X', 'auto.offset.reset=earliest', '-X', 'topic.metadata.refresh.interval.ms=500', '-e', '-f', '%o:%s\n', 'grouped'], undefined, 30_000)).stdout
        .trim()
        .split('\n')
        .filter((l) => l.length > 0);
    expect(await consume()).toEqual(['0:a', '1:b', '2:c']);
    await kcat([...broker, '-P', '-t', 'grouped', '-p', '0'], 'd\n');
    expect(await consume()).toEqual(['3:d']);
  });
});
