// What a server role says when it cannot start, through the real `rdmq`
// binary: one line naming the flag, no stack trace, no hang, and nothing left
// behind that the failed start created. Also what a restart need not repeat
// (the sizes stored with the data) and the config file's spelling of keys.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { RunningRole, startRole } from '../bench/cluster';

const MAIN = path.join(__dirname, 'main.js');
const BIN = path.join(__dirname, '..', '..', 'bin', 'rdmq');
const ANY_PORTS = ['--control', '127.0.0.1:0', '--fastpath', '127.0.0.1:0', '--kafka', '127.0.0.1:0', '--metrics', '127.0.0.1:0'];

interface Ready {
  controlPort: number;
  fastpathPort: number;
  metricsPort: number;
  kafkaPort?: number;
}

function rdmq(args: string[], timeoutMs = 30_000): Promise<{ code: number | string; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(BIN, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? String((err as { signal?: string }).signal)) : 0, stdout, stderr });
    });
  });
}

describe('rdmq start that cannot start', () => {
  const dir = fs.mkdtempSync('/dev/shm/rdmq-start-errors-');
  const running: RunningRole<Ready>[] = [];
  const serve = async (args: string[]): Promise<RunningRole<Ready>> => {
    const role = await startRole<Ready>([MAIN, ...args]);
    running.push(role);
    return role;
  };
  afterAll(async () => {
    for (const role of running) await role.signal('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    [['start', '--region-size', '0'], 'rdmq: bad value for --region-size: region size "0" must be a positive number of bytes\n'],
    [['start', '--scrub-rate', 'fast'], 'rdmq: bad value for --scrub-rate: scrub rate "fast" is not a size (examples: 8K, 64K, 1M, 8M, 2G)\n'],
    [['start', '--data', '/proc/rdmq-test/data'], 'rdmq: cannot create data directory /proc/rdmq-test/data: /proc takes no new directories\n'],
  ])('rdmq %j says what is wrong in one line (and does not hang)', async (args, message) => {
    expect(await rdmq(args as string[], 15_000)).toMatchObject({ code: 2, stderr: message });
  });

  it('a broker or gateway that finds nothing at its --storage or --control says what it looked for, and leaves no data behind', async () => {
    const data = path.join(dir, 'lonely-broker');
    expect(await rdmq(['broker', '--storage', '127.0.0.1:1', '--data', data, '--region-size', '64M', '--segment-size', '4M', ...ANY_PORTS])).toMatchObject({
      code: 2,
      stderr: 'rdmq: no rdmq storage node answers at 127.0.0.1:1 (is rdmq storage running there?)\n',
    });
    expect(fs.existsSync(data)).toBe(false);
    expect(await rdmq(['gateway', '--control', '127.0.0.1:1', '--kafka', '127.0.0.1:0', '--metrics', '127.0.0.1:0'])).toMatchObject({
      code: 2,
      stderr: 'rdmq: no rdmq broker answers at 127.0.0.1:1 (is rdmq running there?)\n',
    });
  });

  it('--data naming a file (or a path through one) says it is a file', async () => {
    const file = path.join(dir, 'a-file');
    fs.writeFileSync(file, 'not a directory');
    expect(await rdmq(['start', '--data', file])).toMatchObject({ code: 2, stderr: `rdmq: --data ${file} is a file, not a directory\n` });
    expect(await rdmq(['start', '--data', path.join(file, 'sub')])).toMatchObject({ code: 2, stderr: `rdmq: --data ${file}/sub: ${file} is a file, not a directory\n` });
    expect(fs.readFileSync(file, 'utf8')).toBe('not a directory');
  });

  it('a taken port names the address and its flag, and the failed start leaves nothing it created behind', async () => {
    const first = await serve(['start', '--data', path.join(dir, 'first'), '--region-size', '64M', '--segment-size', '4M', ...ANY_PORTS]);
    const taken = { control: first.ready.controlPort, fastpath: first.ready.fastpathPort, kafka: first.ready.kafkaPort!, metrics: first.ready.metricsPort };
    for (const [flag, port] of Object.entries(taken)) {
      const fresh = path.join(dir, `fresh-${flag}`, 'nested', 'data');
      const ports = ANY_PORTS.map((a, i) => (ANY_PORTS[i - 1] === `--${flag}` ? `127.0.0.1:${port}` : a));
      const failed = await rdmq(['start', '--data', fresh, '--region-size', '64M', '--segment-size', '4M', ...ports]);
      expect(failed.code).toBe(2);
      expect(failed.stderr).toMatch(new RegExp(`^(E [^\\n]*\\n)?rdmq: cannot listen on 127\\.0\\.0\\.1:${port} for --${flag}: address in use\\n$`));
      // The directories it made (and the 64M region in them) are gone.
      expect(fs.existsSync(path.join(dir, `fresh-${flag}`))).toBe(false);
    }
    // In a directory that was there, only what the failed start added goes.
    const existing = path.join(dir, 'existing');
    fs.mkdirSync(existing);
    fs.writeFileSync(path.join(existing, 'notes.txt'), 'mine');
    const ports = ANY_PORTS.map((a, i) => (ANY_PORTS[i - 1] === '--kafka' ? `127.0.0.1:${taken.kafka}` : a));
    expect((await rdmq(['start', '--data', existing, '--region-size', '64M', '--segment-size', '4M', ...ports])).code).toBe(2);
    expect(fs.readdirSync(existing)).toEqual(['notes.txt']);
  });

  it('a restart takes the region and segment sizes stored with the data; a different one is refused, naming both', async () => {
    const data = path.join(dir, 'sized');
    // The config file spells keys as the flags do (kebab-case); camelCase keeps working.
    const config = path.join(dir, 'sized.json');
    fs.writeFileSync(config, JSON.stringify({ 'region-size': '64M', segmentSize: '4M', 'retention-check-ms': 1000 }));
    const first = await serve(['start', '--config', config, '--data', data, ...ANY_PORTS]);
    expect(fs.statSync(path.join(data, 'region')).size).toBe(64 * 1024 * 1024);
    expect((await rdmq(['topics', 'create', 'kept', '--control', `127.0.0.1:${first.ready.controlPort}`])).code).toBe(0);
    await first.signal('SIGTERM');
    const again = await serve(['start', '--data', data, ...ANY_PORTS]);
    expect((await rdmq(['topics', 'list', '--control', `127.0.0.1:${again.ready.controlPort}`])).stdout).toBe('kept\n');
    expect(fs.statSync(path.join(data, 'region')).size).toBe(64 * 1024 * 1024);
    await again.signal('SIGTERM');
    expect(await rdmq(['start', '--data', data, '--region-size', '128M', ...ANY_PORTS])).toMatchObject({
      code: 2,
      stderr: `rdmq: --region-size 128M differs from the 64M the data directory ${data} was created with; leave --region-size out (the stored size is used) or start on another --data\n`,
    });
    expect((await rdmq(['start', '--data', data, '--segment-size', '8M', ...ANY_PORTS])).stderr).toMatch(/^rdmq: --segment-size 8M differs from the 4M the data directory/);
    fs.writeFileSync(config, JSON.stringify({ 'region-size': '64M', regionSize: '64M' }));
    expect(await rdmq(['start', '--config', config])).toMatchObject({ code: 2, stderr: `rdmq: config file ${config} sets region-size and regionSize: the same setting twice\n` });
  });

  it('the roles run apart on one host with no address flags do not clash: each role has its own default ports', async () => {
    const sizes = ['--region-size', '64M', '--segment-size', '4M'];
    const storage = await serve(['storage', '--data', path.join(dir, 'storage'), ...sizes]);
    expect(storage.ready).toMatchObject({ controlPort: 7410, fastpathPort: 7411, metricsPort: 9465 });
    const broker = await serve(['broker', '--data', path.join(dir, 'broker'), '--storage', '127.0.0.1:7410', ...sizes]);
    expect(broker.ready).toMatchObject({ controlPort: 7400, fastpathPort: 7401, metricsPort: 9464, kafkaPort: 9092 });
    const gateway = await serve(['gateway']);
    expect(gateway.ready).toMatchObject({ kafkaPort: 9093, metricsPort: 9466 });
    expect((await rdmq(['status'])).stdout).toMatch(/Kafka gateways .*@127\.0\.0\.1:9092.*@127\.0\.0\.1:9093|Kafka gateways .*@127\.0\.0\.1:9093.*@127\.0\.0\.1:9092/);
  });
});
