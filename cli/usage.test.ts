// The CLI's usage plumbing through the real `rdmq` binary: help on every
// subcommand, the version, usage errors that say where the usage is, and a
// reader that stops early (`| head`) ending the command quietly.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ConfigResourceTypes, Kafka, logLevel } from 'kafkajs';
import { ClusterProcess, startCluster } from '../bench/cluster';

const BIN = path.join(__dirname, '..', '..', 'bin', 'rdmq');
const SUBCOMMANDS = ['start', 'storage', 'broker', 'gateway', 'topics', 'acls', 'status', 'corruption', 'metadata', 'produce', 'consume', 'cluster'];

function rdmq(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(BIN, args, { timeout: 30_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** Runs a shell pipeline; resolves with the exit status of each stage and the stderr. */
function pipeline(script: string): Promise<{ statuses: number[]; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile('/bin/bash', ['-c', `${script}; echo "statuses \${PIPESTATUS[*]}" >&2`], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) return reject(err);
      const statuses = /statuses ([\d ]+)/.exec(stderr)![1].trim().split(' ').map(Number);
      resolve({ statuses, stdout, stderr: stderr.replace(/statuses [\d ]+\n/, '') });
    });
  });
}

describe('rdmq usage', () => {
  // --help on every subcommand, -h on every other one: both spellings reach the same code, and each spawn costs the suite time.
  it.each(SUBCOMMANDS.map((c, i) => [c, i % 2 === 0 ? '--help' : '-h']))('rdmq %s %s prints that subcommand\'s usage and exits 0', async (command, flag) => {
    const { code, stdout, stderr } = await rdmq([command, flag]);
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^usage:\\n  rdmq ${command} `));
    expect(stdout).not.toMatch(/rdmq (status|produce) .*\n[\s\S]*rdmq (consume|metadata) /); // not the whole usage
    expect(stderr).toBe('');
  });

  it('rdmq help CMD prints the same usage as rdmq CMD --help; rdmq help and rdmq --help print all of it', async () => {
    expect((await rdmq(['help', 'consume'])).stdout).toBe((await rdmq(['consume', '--help'])).stdout);
    const all = await rdmq(['help']);
    expect(all.code).toBe(0);
    for (const c of SUBCOMMANDS) expect(all.stdout).toMatch(new RegExp(`\\n  rdmq ${c} `));
    expect((await rdmq(['--help'])).stdout).toBe(all.stdout);
    expect(await rdmq(['help', 'nonsense'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/unknown command "nonsense"; commands: start, /) });
  });

  it('rdmq bench -h is bench\'s own help', async () => {
    const { code, stdout } = await rdmq(['bench', '-h']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^rdmq bench \[--target/);
  });

  it('rdmq --version prints the version of package.json', async () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
    expect(await rdmq(['--version'])).toMatchObject({ code: 0, stdout: `rdmq ${version}\n` });
  });

  it('rdmq alone prints the usage as a usage error (exit 2)', async () => {
    const { code, stdout, stderr } = await rdmq([]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^usage:\n  rdmq start /);
  });

  it.each([['topics'], ['corruption'], ['metadata'], ['produce'], ['consume']])('rdmq %s without what it needs prints its usage instead of connecting', async (command) => {
    // No broker listens on this port: a command that tried to connect would say so instead.
    const { code, stderr } = await rdmq(command === 'metadata' ? [command] : [command, '--control', '127.0.0.1:1']);
    expect(code).toBe(2);
    expect(stderr).toMatch(new RegExp(`^usage:\\n  rdmq ${command} `));
  });

  it.each([
    [['start', '--no-such-flag'], "rdmq: start: unknown option '--no-such-flag' (see rdmq start --help)\n"],
    [['consume', 't', '--nope'], "rdmq: consume: unknown option '--nope' (see rdmq consume --help)\n"],
    [['topics', 'frob', 'x'], 'rdmq: topics: unknown action "frob"; allowed: create, list, delete, describe, alter, config (see rdmq topics --help)\n'],
    [['start', '--region-size'], /^rdmq: start: Option '--region-size <value>' argument missing \(see rdmq start --help\)\n$/],
  ])('rdmq %j is one line naming the option and where the usage is', async (args, message) => {
    const { code, stderr } = await rdmq(args as string[]);
    expect(code).toBe(2);
    if (typeof message === 'string') expect(stderr).toBe(message);
    else expect(stderr).toMatch(message);
  });

  it('a command that finds no broker at --control says so in one line', async () => {
    const { code, stderr } = await rdmq(['status', '--control', '127.0.0.1:1']);
    expect(code).toBe(2);
    expect(stderr).toBe('rdmq: no rdmq broker answers at 127.0.0.1:1 (is rdmq running there?)\n');
  });

  describe('with a running rdmq', () => {
    let cluster: ClusterProcess;
    beforeAll(async () => {
      cluster = await startCluster({ regionSize: '128M', segmentSize: '4M' });
    });
    afterAll(async () => {
      await cluster?.stop();
    });

    it('rdmq status piped into a reader that is already gone ends quietly', async () => {
      const { statuses, stderr } = await pipeline(`${BIN} status --control ${cluster.control} | true`);
      expect(statuses[0]).toBe(0);
      expect(stderr).toBe('');
    });

    it('produce --key-separator/--header/--partition writes Kafka keys and headers that consume --print-key/--print-headers and kcat read back', async () => {
      const control = ['--control', cluster.control];
      expect((await rdmq(['topics', 'create', 'keyed', '--partitions', '3', ...control])).code).toBe(0);
      const input = Array.from({ length: 10 }, (_, i) => `k${i}:v${i}`).join('\n') + '\nno separator\n';
      const produced = await rdmq(['produce', 'keyed', '--key-separator', ':', '--header', 'trace=abc', '--header', 'app=cli', '--partition', '2', ...control], input);
      expect(produced).toMatchObject({ code: 0, stderr: 'produced 11 message(s) to keyed\n' });
      expect((await rdmq(['topics', 'describe', 'keyed', ...control])).stdout).toMatch(/partition 0: offsets 0\.\.0,[^\n]*\n  partition 1: offsets 0\.\.0,[^\n]*\n  partition 2: offsets 0\.\.11,/);
      const consumed = await rdmq(['consume', 'keyed', '--partition', '2', '--offset', 'earliest', '--print-key', '--print-headers', '--max-messages', '11', ...control]);
      expect(consumed.stdout.split('\n').slice(0, 3)).toEqual(['trace=abc,app=cli\tk0\tv0', 'trace=abc,app=cli\tk1\tv1', 'trace=abc,app=cli\tk2\tv2']);
      expect(consumed.stdout.split('\n')[10]).toBe('trace=abc,app=cli\t\tno separator');
      // The same records as a Kafka client sees them: key, headers and value are Kafka's own fields.
      const kcat = await new Promise<string>((resolve, reject) =>
        execFile('/usr/bin/kcat', ['-b', `127.0.0.1:${cluster.kafkaPort}`, '-C', '-t', 'keyed', '-p', '2', '-o', '0', '-c', '2', '-e', '-f', '%k|%h|%s\n'], (err, out) => (err ? reject(err) : resolve(out))),
      );
      expect(kcat).toBe('k0|trace=abc,app=cli|v0\nk1|trace=abc,app=cli|v1\n');
    });

    it('consume --offset N --partition P starts at offset N; --offset N without --partition is refused', async () => {
      const control = ['--control', cluster.control];
      expect((await rdmq(['topics', 'create', 'numbered', '--partitions', '2', ...control])).code).toBe(0);
      const input = Array.from({ length: 20 }, (_, i) => `m${i}`).join('\n') + '\n';
      expect((await rdmq(['produce', 'numbered', '--partition', '1', ...control], input)).code).toBe(0);
      const fromFive = await rdmq(['consume', 'numbered', '--partition', '1', '--offset', '5', '--max-messages', '3', ...control]);
      expect(fromFive).toMatchObject({ code: 0, stdout: 'm5\nm6\nm7\n' });
      expect(await rdmq(['consume', 'numbered', '--offset', '5', ...control])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--offset N needs --partition P/) });
      // A fixed --key sends every line to the one partition the key hashes to.
      expect((await rdmq(['produce', 'numbered', '--key', 'same', ...control], 'a\nb\nc\n')).code).toBe(0);
      const described = (await rdmq(['topics', 'describe', 'numbered', ...control])).stdout;
      const grown = [...described.matchAll(/partition (\d): offsets 0\.\.(\d+)/g)].map((m) => Number(m[2]));
      expect([grown[0], grown[1] - 20].sort()).toEqual([0, 3]);
    });

    it('topics alter adds partitions (never removes them), topics create on an existing topic changes nothing and says so', async () => {
      const control = ['--control', cluster.control];
      expect((await rdmq(['topics', 'create', 'growing', '--partitions', '3', ...control])).code).toBe(0);
      expect(await rdmq(['topics', 'create', 'growing', '--partitions', '5', ...control])).toMatchObject({
        code: 2,
        stderr: 'rdmq: topic growing already exists with 3 partition(s); nothing changed (more partitions: rdmq topics alter growing --partitions N)\n',
      });
      expect(await rdmq(['topics', 'alter', 'growing', '--partitions', '5', ...control])).toMatchObject({ code: 0, stdout: 'topic growing now has 5 partition(s)\n' });
      expect((await rdmq(['topics', 'describe', 'growing', ...control])).stdout).toMatch(/partition 4: /);
      const shrink = await rdmq(['topics', 'alter', 'growing', '--partitions', '2', ...control]);
      expect(shrink.code).toBe(2);
      expect(shrink.stderr).toMatch(/growing/);
      expect((await rdmq(['topics', 'describe', 'growing', ...control])).stdout).toMatch(/partition 4: /);
    });

    it('topics create --config, and topics config --set/--delete, change the configs Kafka clients describe', async () => {
      const control = ['--control', cluster.control];
      expect((await rdmq(['topics', 'create', 'configured', '--config', 'retention.ms=120000', ...control])).code).toBe(0);
      expect((await rdmq(['topics', 'config', 'configured', ...control])).stdout).toMatch(/^retention\.ms=120000$/m);
      const set = await rdmq(['topics', 'config', 'configured', '--set', 'retention.ms=60000', '--set', 'max.message.bytes=2000000', ...control]);
      expect(set.code).toBe(0);
      expect(set.stdout).toMatch(/^retention\.ms=60000$/m);
      expect(set.stdout).toMatch(/^max\.message\.bytes=2000000$/m);
      const kafka = new Kafka({ brokers: [`127.0.0.1:${cluster.kafkaPort}`], logLevel: logLevel.NOTHING });
      const admin = kafka.admin();
      await admin.connect();
      const described = async (): Promise<Record<string, string>> => {
        const { resources } = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: 'configured' }], includeSynonyms: false });
        return Object.fromEntries(resources[0].configEntries.map((e) => [e.configName, e.configValue]));
      };
      try {
        expect(await described()).toMatchObject({ 'retention.ms': '60000', 'max.message.bytes': '2000000' });
        const reset = await rdmq(['topics', 'config', 'configured', '--delete', 'retention.ms', ...control]);
        expect(reset.code).toBe(0);
        expect((await described())['retention.ms']).not.toBe('60000');
        expect((await described())['max.message.bytes']).toBe('2000000');
        const bad = await rdmq(['topics', 'config', 'configured', '--set', 'no.such.config=1', ...control]);
        expect(bad.code).toBe(2);
        expect(bad.stderr).toMatch(/no\.such\.config/);
        expect(await rdmq(['topics', 'config', 'configured', '--set', 'novalue', ...control])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--set takes KEY=VALUE, got "novalue"/) });
      } finally {
        await admin.disconnect();
      }
    });

    it('rdmq consume | head -3 ends quietly once head has its lines', async () => {
      const control = ['--control', cluster.control];
      // More than a pipe buffer holds, so consume is still writing when head exits.
      const lines = Array.from({ length: 20_000 }, (_, i) => `${i} `.padEnd(100, 'x'));
      expect((await rdmq(['topics', 'create', 'piped', ...control])).code).toBe(0);
      expect((await rdmq(['produce', 'piped', ...control], lines.join('\n') + '\n')).stderr).toMatch(/produced 20000 message/);
      const { statuses, stdout, stderr } = await pipeline(`${BIN} consume piped --from-beginning --control ${cluster.control} | head -3`);
      expect(statuses).toEqual([0, 0]);
      expect(stdout.split('\n')).toHaveLength(4);
      expect(stderr).toBe('');
    });
  });
});
