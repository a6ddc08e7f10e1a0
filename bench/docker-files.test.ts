// The compose files and the Dockerfile are checked without a Docker engine:
// docker-compose validates the compose files, and the Dockerfile is checked
// for what breaks a build first (unknown instructions, missing COPY sources,
// references to stages that do not exist).
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.join(__dirname, '..', '..');
const DOCKER = path.join(ROOT, 'docker');

const CLUSTER_SERVICES = ['etcd', 'storage-0', 'storage-1', 'storage-2', 'broker-0', 'broker-1', 'gateway-0', 'gateway-1', 'kafka-0', 'kafka-1', 'kafka-2', 'bench'];

/** Each service's one-line `command: [...]` of a compose file, by service name. */
function serviceCommands(text: string): Map<string, string[]> {
  const commands = new Map<string, string[]>();
  let service = '';
  for (const line of text.split('\n')) {
    const header = /^  ([\w-]+):\s*$/.exec(line);
    if (header) service = header[1];
    const command = /^    command: (\[.*\])\s*$/.exec(line);
    if (command && service) commands.set(service, JSON.parse(command[1]) as string[]);
  }
  return commands;
}

describe('docker files', () => {
  it.each([[['compose.yml']], [['compose.yml', 'compose.rdma.yml']]])('docker-compose accepts %j', (files) => {
    const args = files.flatMap((f) => ['-f', path.join(DOCKER, f)]);
    const out = execFileSync('docker-compose', [...args, '--profile', 'rdma', 'config'], { cwd: ROOT, encoding: 'utf8' });
    expect(out).toMatch(/services:/);
    for (const service of CLUSTER_SERVICES) expect(out).toContain(`  ${service}:`);
    // Kafka beside it at replication factor 3 on three brokers.
    expect(out.match(/KAFKA_DEFAULT_REPLICATION_FACTOR: 3/g)).toHaveLength(3);
    expect(out.match(/KAFKA_NODE_ID: [123]\n/g)).toHaveLength(3);
  });

  it.each(['compose.yml', 'compose.rdma.yml'])('%s runs a 3-storage-node, 2-broker, 2-gateway rdmq on etcd, each member given every address it needs', (file) => {
    const commands = serviceCommands(fs.readFileSync(path.join(DOCKER, file), 'utf8').replace(/\$\{RDMQ_HOST:-127.0.0.1\}/g, '127.0.0.1'));
    const byRole = (role: string): [string, string[]][] => [...commands].filter(([, c]) => c[0] === role);
    const flag = (command: string[], name: string): string => command[command.indexOf(name) + 1];
    // Where a member is reached: its advertised host and the port it listens on.
    const reachedAt = (command: string[], name: string): string => `${flag(command, '--advertised-host')}:${flag(command, name).split(':')[1]}`;
    const storage = byRole('storage');
    const brokers = byRole('broker');
    const gateways = byRole('gateway');
    expect([storage.length, brokers.length, gateways.length]).toEqual([3, 2, 2]);
    const storageControls = storage.map(([, c]) => reachedAt(c, '--control'));
    expect(new Set(storageControls).size).toBe(3);
    const brokerControls = brokers.map(([, c]) => reachedAt(c, '--control'));
    for (const [, c] of brokers) {
      expect(flag(c, '--storage').split(',')).toEqual(storageControls);
      expect(flag(c, '--etcd')).toMatch(/^http:\/\/(etcd|127\.0\.0\.1):2379$/);
      expect(flag(c, '--default-replication-factor')).toBe('3');
    }
    for (const [, c] of gateways) expect(flag(c, '--control').split(',')).toEqual(brokerControls);
    expect(new Set(gateways.map(([, c]) => flag(c, '--node-id'))).size).toBe(2);
    const etcd = commands.get('etcd');
    expect(etcd?.[0]).toBe('etcd');
  });

  it.each(['compose.yml', 'compose.rdma.yml'])('every rdmq role in %s that listens on all interfaces tells clients a reachable host', (file) => {
    const commands = fs.readFileSync(path.join(DOCKER, file), 'utf8').split('\n').filter((l) => /command: \["(storage|broker|gateway)"/.test(l));
    expect(commands.length).toBeGreaterThanOrEqual(7);
    for (const command of commands) {
      expect(command).toContain('0.0.0.0:');
      expect(command).toMatch(/"--advertised-host", "[^"]+"/);
    }
  });

  it.each(['compose.yml', 'compose.rdma.yml'])('every rdmq member in %s proves the cluster secret over TLS, from the files the pki service makes', (file) => {
    const commands = [...serviceCommands(fs.readFileSync(path.join(DOCKER, file), 'utf8'))].filter(([, c]) => ['storage', 'broker', 'gateway'].includes(c[0]));
    expect(commands.length).toBe(7);
    const flag = (command: string[], name: string): string | undefined => (command.includes(name) ? command[command.indexOf(name) + 1] : undefined);
    const made = fs.readFileSync(path.join(DOCKER, 'make-pki.sh'), 'utf8');
    for (const [, c] of commands) {
      expect(flag(c, '--cluster-secret-file')).toBe('/pki/cluster-secret');
      expect(flag(c, '--control-tls-ca')).toBe('/pki/ca.pem');
      if (c[0] !== 'gateway') expect([flag(c, '--control-tls-cert'), flag(c, '--control-tls-key')]).toEqual(['/pki/member.pem', '/pki/member.key']);
    }
    for (const output of ['cluster-secret', 'ca.pem', 'member.pem', 'member.key']) expect(made).toContain(output);
  });

  it('the Dockerfile uses known instructions, existing sources and defined stages', () => {
    const text = fs.readFileSync(path.join(DOCKER, 'Dockerfile'), 'utf8');
    const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const known = new Set(['FROM', 'RUN', 'CMD', 'LABEL', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL']);
    const stages = new Set<string>();
    for (const line of lines) {
      const [instruction, ...rest] = line.split(/\s+/);
      expect(known).toContain(instruction);
      if (instruction === 'FROM') {
        const as = rest.findIndex((w) => w.toUpperCase() === 'AS');
        if (as >= 0) stages.add(rest[as + 1]);
      }
      if (instruction === 'COPY') {
        const from = rest.find((w) => w.startsWith('--from='));
        const args = rest.filter((w) => !w.startsWith('--'));
        if (from) {
          expect(stages).toContain(from.slice('--from='.length));
        } else {
          for (const source of args.slice(0, -1)) expect(fs.existsSync(path.join(ROOT, source))).toBe(true);
        }
      }
    }
    expect(stages.size).toBeGreaterThanOrEqual(2);
    expect(fs.existsSync(path.join(ROOT, 'bin', 'rdmq'))).toBe(true);
  });
});
