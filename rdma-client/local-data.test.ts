// A fast-path client on the storage node's host: its data link moves from the
// node's TCP address to the node's Unix socket, where the node copies between
// its region and the client's buffers with CMA after checking each grant.
// Where the kernel refuses the node that copy (here: the node runs as another
// user), the client says why and carries bytes on the Unix socket; a client of
// another user cannot open the socket at all and stays on TCP. Every record
// reads back intact on each path.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ClusterProcess, startCluster } from '../bench/cluster';
import { Connection } from './connection';
import { Consumer } from './consumer';
import { Producer } from './producer';

/** Values of 1 KiB … 1000 KiB: small copies on the node's thread, large ones on its thread pool (the first read, over 2 MiB, in parts). */
function valuesFor(topic: string): string[] {
  return [1024, 8 * 1024, 300 * 1024, 600 * 1024, 1000 * 1024, 900 * 1024, 2000].map((n, i) => `${topic}:${i}:`.padEnd(n, String.fromCharCode(97 + i)));
}

async function roundTrip(cluster: ClusterProcess, topic: string): Promise<{ read: string[]; path: string }> {
  const connection = await Connection.open({ control: cluster.control });
  try {
    await connection.call('createTopic', { name: topic, partitions: 1, configs: {} });
    const producer = new Producer(connection, { mode: 'exclusive' });
    for (const value of valuesFor(topic)) await producer.send({ topic, messages: [{ value }] });
    await producer.disconnect();
    const consumer = new Consumer(connection);
    const read: string[] = [];
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${read.length} of 7 records of ${topic}`)), 20_000);
      void consumer.run(
        {
          eachMessage: ({ message }) => {
            read.push(message.value!.toString());
            if (read.length === 7) {
              clearTimeout(timer);
              resolve();
            }
          },
        },
        reject,
      );
    });
    await consumer.stop();
    const link = await connection.storageEndpoint(connection.cluster.storageFastpathAddress);
    return { read, path: link.path };
  } finally {
    await connection.close();
  }
}

it("a client on the storage node's host puts and gets through the node's Unix socket, the node copying with CMA", async () => {
  const cluster = await startCluster({ regionSize: '64M', segmentSize: '4M' });
  try {
    const { read, path: linkPath } = await roundTrip(cluster, 'local-cma');
    expect(linkPath).toBe('unix-cma');
    expect(read).toEqual(valuesFor('local-cma'));
    // The socket is this user's alone.
    const dir = path.join(cluster.dataDir, 'local-clients');
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(dir, 'data.sock')).mode & 0o777).toBe(0o600);
  } finally {
    await cluster.stop();
  }
  expect(cluster.child.exitCode === 0 || cluster.child.signalCode === 'SIGTERM').toBe(true);
});

const asNobody = ['/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
// Root may copy into anything, so the refusals need a node or a client of an unprivileged user.
const canDropPrivileges = process.getuid?.() === 0 && fs.existsSync(asNobody[0]);

// Both run as one unprivileged user; the client makes itself non-dumpable, so the kernel refuses the node CMA into it.
(canDropPrivileges ? it : it.skip)('when the kernel refuses the node CMA into the client, the client warns and carries bytes on the Unix socket', async () => {
  const dataDir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'rdmq-local-'));
  fs.chmodSync(dataDir, 0o777);
  const cluster = await startCluster({ dataDir, regionSize: '64M', segmentSize: '4M', prefix: asNobody });
  try {
    // A client of root could not reach a node of another user over UCX: the address comes from the node's own log.
    const address = /grant check at (\S+?);/.exec(cluster.stderr())?.[1];
    expect(address).toBeDefined();
    const run = spawnSync(asNobody[0], [...asNobody.slice(1), process.execPath, '-e', NON_DUMPABLE_CLIENT, path.join(__dirname, '..'), address!], { encoding: 'utf8', timeout: 20_000 });
    expect(run.stderr).toMatch(/local link without CMA .*Operation not permitted/);
    // The link serves (a forged grant is refused by the node's check, as on every path).
    expect(run.stdout.trim()).toBe('unix GRANT_INVALID');
  } finally {
    await cluster.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

const NON_DUMPABLE_CLIENT = `
const [root, address] = process.argv.slice(1);
require(root + '/addon').protectStorageProcess();
const { DataLink } = require(root + '/rdma-client/data-link');
DataLink.connect(address).then(async (link) => {
  const refused = await link.get(Buffer.alloc(56, 1), 0, Buffer.alloc(4096)).then(() => 'read', (e) => e.code);
  console.log(link.path + ' ' + refused);
  await link.close();
}, (err) => console.log('failed: ' + err.message));
`;

(canDropPrivileges ? it : it.skip)("a client of another user cannot open the node's Unix socket and stays on TCP", async () => {
  const cluster = await startCluster({ regionSize: '64M', segmentSize: '4M' });
  try {
    const connection = await Connection.open({ control: cluster.control });
    const address = connection.cluster.storageFastpathAddress;
    await connection.close();
    const script = `require(process.argv[1]).DataLink.connect(process.argv[2]).then((l) => { console.log(l.path); return l.close(); }, (e) => console.log('failed: ' + e.message));`;
    const run = spawnSync(asNobody[0], [...asNobody.slice(1), process.execPath, '-e', script, path.join(__dirname, 'data-link.js'), address], { encoding: 'utf8', timeout: 20_000 });
    expect(run.stdout.trim()).toBe('tcp');
  } finally {
    await cluster.stop();
  }
});
