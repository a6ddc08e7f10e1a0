// The compose files and the Dockerfile are checked without a Docker engine:
// docker-compose validates the compose files, and the Dockerfile is checked
// for what breaks a build first (unknown instructions, missing COPY sources,
// references to stages that do not exist).
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.join(__dirname, '..', '..');
const DOCKER = path.join(ROOT, 'docker');

describe('docker files', () => {
  it.each([[['compose.yml']], [['compose.yml', 'compose.rdma.yml']]])('docker-compose accepts %j', (files) => {
    const args = files.flatMap((f) => ['-f', path.join(DOCKER, f)]);
    const out = execFileSync('docker-compose', [...args, '--profile', 'rdma', 'config'], { cwd: ROOT, encoding: 'utf8' });
    expect(out).toMatch(/services:/);
    for (const service of ['storage', 'broker', 'gateway', 'kafka', 'bench']) expect(out).toContain(`  ${service}:`);
  });

  it.each(['compose.yml', 'compose.rdma.yml'])('every rdmq role in %s that listens on all interfaces tells clients a reachable host', (file) => {
    const commands = fs.readFileSync(path.join(DOCKER, file), 'utf8').split('\n').filter((l) => /command: \["(storage|broker|gateway)"/.test(l));
    expect(commands.length).toBeGreaterThanOrEqual(3);
    for (const command of commands) {
      expect(command).toContain('0.0.0.0:');
      expect(command).toMatch(/"--advertised-host", "[^"]+"/);
    }
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
