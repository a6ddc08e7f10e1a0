import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { AddonError, inMemoryOnlyFilesystem, Region } from '.';

const madeDirs: string[] = [];
afterAll(() => {
  for (const dir of madeDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tempFile(name: string, dir = '/dev/shm'): string {
  const base = fs.existsSync(dir) ? dir : os.tmpdir();
  const made = fs.mkdtempSync(path.join(base, 'rdmq-region-'));
  madeDirs.push(made);
  return path.join(made, name);
}

function expectCode(fn: () => unknown, code: string, message?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(AddonError);
  expect((caught as AddonError).code).toBe(code);
  if (message) expect((caught as AddonError).message).toMatch(message);
}

describe('Region', () => {
  it('knows a file on tmpfs is kept in memory only, and one on a disk filesystem is not', () => {
    // The checkout's own directory is on a disk here (and in CI); /dev/shm is tmpfs.
    const diskDir = path.dirname(__dirname);
    expect([inMemoryOnlyFilesystem('/dev/shm'), inMemoryOnlyFilesystem(diskDir)]).toEqual([true, false]);
    const inMemory = Region.create(tempFile('region', '/dev/shm'), 1 << 20);
    const onDisk = Region.create(tempFile('region', diskDir), 1 << 20);
    expect([inMemory.memoryOnly, onDisk.memoryOnly]).toEqual([true, false]);
    inMemory.close();
    onDisk.close();
  });

  it.each([['/dev/shm'], [os.tmpdir()]])('keeps bytes written before close when reopened (%s)', (dir) => {
    const file = tempFile('region', dir);
    const region = Region.create(file, 1 << 20);
    expect(region.sizeBytes).toBe(1 << 20);
    expect(region.storeGranularity).toBe('page');
    const pattern = Buffer.from(Array.from({ length: 8192 }, (_, i) => (i * 31) & 0xff));
    region.bytes(12345, pattern.length).set(pattern);
    region.persist(12345, pattern.length);
    region.close();

    const reopened = Region.open(file);
    expect(reopened.sizeBytes).toBe(1 << 20);
    expect(Buffer.compare(reopened.bytes(12345, pattern.length), pattern)).toBe(0);
    reopened.close();
  });

  it('hands out views that alias the mapping rather than copies', () => {
    const region = Region.create(tempFile('alias'), 64 * 1024);
    const a = region.bytes(100, 10);
    const b = region.bytes(100, 10);
    a[3] = 42;
    expect(b[3]).toBe(42);
    region.close();
  });

  it('detaches views on close so a stale view reads as empty instead of faulting', () => {
    const region = Region.create(tempFile('stale'), 64 * 1024);
    const view = region.bytes(0, 4096);
    region.close();
    expect(view.byteLength).toBe(0);
    expect(view[0]).toBeUndefined();
  });

  it('prefault leaves the contents unchanged', () => {
    const region = Region.create(tempFile('prefault'), 1 << 20);
    region.bytes(4096, 4).set([1, 2, 3, 4]);
    region.prefault(0, 1 << 20);
    expect([...region.bytes(4096, 4)]).toEqual([1, 2, 3, 4]);
    region.close();
  });

  it('refuses a file that is too small', () => {
    const file = tempFile('small');
    fs.writeFileSync(file, Buffer.alloc(4096));
    expectCode(() => Region.open(file, 1 << 20), 'ERR_REGION_TOO_SMALL', /4096 bytes, smaller than the requested 1048576/);
  });

  it('refuses an empty file', () => {
    const file = tempFile('empty');
    fs.writeFileSync(file, '');
    expectCode(() => Region.open(file), 'ERR_REGION_TOO_SMALL', /empty/);
  });

  it('refuses a file it cannot open for writing', () => {
    expectCode(() => Region.open('/nonexistent-dir/region'), 'ERR_REGION_OPEN', /No such file/);
    const file = tempFile('readonly');
    fs.writeFileSync(file, Buffer.alloc(8192));
    fs.chmodSync(file, 0o444);
    if (process.getuid && process.getuid() === 0) {
      // root ignores file modes; a directory in place of a file still cannot be opened for writing.
      expectCode(() => Region.open(path.dirname(file)), 'ERR_REGION_OPEN');
    } else {
      expectCode(() => Region.open(file), 'ERR_REGION_OPEN', /Permission denied/);
    }
  });

  it('rejects ranges outside the region', () => {
    const region = Region.create(tempFile('range'), 64 * 1024);
    expectCode(() => region.bytes(64 * 1024 - 10, 11), 'ERR_OUT_OF_RANGE', /outside region of 65536 bytes/);
    expectCode(() => region.persist(-1, 10), 'ERR_OUT_OF_RANGE');
    expectCode(() => region.prefault(0, 64 * 1024 + 1), 'ERR_OUT_OF_RANGE');
    expectCode(() => region.bytes(1.5, 1), 'ERR_OUT_OF_RANGE');
    region.close();
  });

  it('rejects every call on a closed region', () => {
    const region = Region.create(tempFile('closed'), 64 * 1024);
    region.close();
    expectCode(() => region.bytes(0, 1), 'ERR_REGION_CLOSED');
    expectCode(() => region.persist(0, 1), 'ERR_REGION_CLOSED');
    expectCode(() => region.prefault(0, 1), 'ERR_REGION_CLOSED');
    expectCode(() => region.close(), 'ERR_REGION_CLOSED', /is closed/);
  });

  it('rejects a negative or fractional size', () => {
    expectCode(() => Region.create(tempFile('neg'), -1), 'ERR_INVALID_ARG');
    expectCode(() => Region.create(tempFile('frac'), 10.5), 'ERR_INVALID_ARG');
  });
});
