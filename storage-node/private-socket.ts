// A Unix socket only this user may reach: in a directory of mode 0700 (the
// socket's own mode is not checked by every kernel before connect), the
// socket itself 0600. The storage node's data path and its commit socket both
// listen this way in DATA/local-clients for clients and brokers on its host.
import * as fs from 'fs';
import * as net from 'net';

/** sun_path holds 108 bytes with its terminating zero. */
export const UNIX_PATH_BYTES_MAX = 107;

/**
 * Listens with `server` on `socketPath` inside `dir`, creating `dir` (0700)
 * or tightening it to 0700. A stale socket of an earlier run is replaced: the
 * caller owns the data directory. The caller checks the path's length first.
 */
export async function listenPrivately(server: net.Server, dir: string, socketPath: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  fs.rmSync(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  fs.chmodSync(socketPath, 0o600);
}
