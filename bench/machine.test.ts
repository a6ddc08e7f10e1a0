import fs from 'fs';
import os from 'os';
import path from 'path';
import { describeMemoryMonitors, machineLine, tmpfsUsedBytes } from './machine';

/** A DAMON sysfs tree as Linux lays it out, with the files this reads. */
function damonTree(kdamonds: { state: string; contexts: { operations: string; sampleUs: number; actions: string[] }[] }[]): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rdmq-damon-'));
  const write = (file: string, text: string) => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${text}\n`);
  };
  write(path.join(root, 'kdamonds', 'nr_kdamonds'), String(kdamonds.length));
  kdamonds.forEach((k, i) => {
    const dir = path.join(root, 'kdamonds', String(i));
    write(path.join(dir, 'state'), k.state);
    write(path.join(dir, 'contexts', 'nr_contexts'), String(k.contexts.length));
    k.contexts.forEach((c, j) => {
      const context = path.join(dir, 'contexts', String(j));
      write(path.join(context, 'operations'), c.operations);
      write(path.join(context, 'monitoring_attrs', 'intervals', 'sample_us'), String(c.sampleUs));
      write(path.join(context, 'schemes', 'nr_schemes'), String(c.actions.length));
      c.actions.forEach((action, n) => write(path.join(context, 'schemes', String(n), 'action'), action));
    });
  });
  return root;
}

describe('describeMemoryMonitors', () => {
  const roots: string[] = [];
  afterAll(() => roots.forEach((root) => fs.rmSync(root, { recursive: true, force: true })));
  const tree = (...args: Parameters<typeof damonTree>) => {
    const root = damonTree(...args);
    roots.push(root);
    return root;
  };

  it('names a running kdamond: what it monitors, how often it samples, what it does', () => {
    const root = tree([{ state: 'on', contexts: [{ operations: 'paddr', sampleUs: 500_000, actions: ['pageout'] }] }]);
    expect(describeMemoryMonitors(root)).toBe('DAMON (paddr, sampling every 500 ms; pageout)');
  });

  it('leaves out kdamonds that are off, and says nothing when none runs', () => {
    const root = tree([
      { state: 'off', contexts: [{ operations: 'paddr', sampleUs: 5_000, actions: ['pageout'] }] },
      { state: 'on', contexts: [{ operations: 'vaddr', sampleUs: 100, actions: [] }] },
    ]);
    expect(describeMemoryMonitors(root)).toBe('DAMON (vaddr, sampling every 100 µs)');
    expect(describeMemoryMonitors(tree([{ state: 'off', contexts: [] }]))).toBeUndefined();
  });

  it('is undefined where the kernel has no DAMON interface', () => {
    expect(describeMemoryMonitors(path.join(os.tmpdir(), 'rdmq-no-such-damon'))).toBeUndefined();
  });
});

describe('tmpfsUsedBytes', () => {
  it('counts what the files of a tmpfs take, and is undefined without one', () => {
    const dir = fs.mkdtempSync(path.join('/dev/shm', 'rdmq-machine-'));
    try {
      fs.writeFileSync(path.join(dir, 'held'), Buffer.alloc(8 << 20, 1));
      // Other tests add and remove files there meanwhile: at least the 8 MiB held here, at most the whole tmpfs.
      const s = fs.statfsSync(dir);
      expect(tmpfsUsedBytes(dir)).toBeGreaterThanOrEqual(8 << 20);
      expect(tmpfsUsedBytes(dir)).toBeLessThanOrEqual(s.blocks * s.bsize);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(tmpfsUsedBytes(path.join(os.tmpdir(), 'rdmq-no-such-dir'))).toBeUndefined();
  });
});

describe('machineLine', () => {
  it('says what ran beside the figures', () => {
    expect(machineLine({ cpus: 2, memoryBytes: 24 * 1024 ** 3, node: 'v20.20.2' })).toBe('2 CPUs, 24 GiB, Node v20.20.2.');
    // What was available, and what /dev/shm held once it is worth a mention.
    expect(machineLine({ cpus: 2, memoryBytes: 24 * 1024 ** 3, memoryAvailableBytes: 7.25 * 1024 ** 3, shmUsedBytes: 16.4 * 1024 ** 3, node: 'v20.20.2' })).toBe(
      '2 CPUs, 24 GiB (7.3 GiB available at the start; files in /dev/shm took 16.4 GiB), Node v20.20.2.',
    );
    expect(machineLine({ cpus: 2, memoryBytes: 24 * 1024 ** 3, memoryAvailableBytes: 23 * 1024 ** 3, shmUsedBytes: 50 * 1024 ** 2, node: 'v20.20.2' })).toBe(
      '2 CPUs, 24 GiB (23.0 GiB available at the start), Node v20.20.2.',
    );
    expect(machineLine({ cpus: 2, node: 'v20.20.2', memoryMonitor: 'DAMON (paddr, sampling every 500 ms; pageout)' })).toMatch(
      /^2 CPUs, Node v20\.20\.2\. The kernel's memory monitor ran meanwhile: DAMON \(paddr, sampling every 500 ms; pageout\); /,
    );
  });
});
