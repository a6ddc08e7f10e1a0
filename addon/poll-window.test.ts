// The poll window: a transport polls its worker (instead of sleeping on its
// event fd) after activity, but only while messages keep coming back within
// the window; traffic too sparse for it to catch turns polling off, and
// traffic on the process's other doors (noteLoopActivity) counts like a message.
import { noteLoopActivity, POLL_WINDOW_US_DEFAULT, Transport } from './transport';

const PING = 5;
const PONG = 6;

async function until(what: string, condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** A server that answers every PING with a PONG, and a client of it. */
async function pingPong(serverWindowUs: number): Promise<{ server: Transport; client: Transport; ping: () => Promise<void>; close: () => Promise<void> }> {
  const server = new Transport({ pollWindowUs: serverWindowUs });
  server.onMessage(PING, (ep) => void ep.send(PONG, Buffer.alloc(4)));
  const port = await server.listen('127.0.0.1', 0);
  // The client never polls, so only the server's score moves.
  const client = new Transport({ pollWindowUs: 0 });
  const ep = await client.connect('127.0.0.1', port);
  let answered: (() => void) | undefined;
  client.onMessage(PONG, () => answered?.());
  const ping = (): Promise<void> =>
    new Promise<void>((resolve) => {
      answered = resolve;
      void ep.send(PING, Buffer.alloc(4));
    });
  return {
    server,
    client,
    ping,
    close: async () => {
      await ep.close();
      client.close();
      server.close();
    },
  };
}

describe('the poll window', () => {
  it('is on by default, and RDMQ_POLL_WINDOW_US=0 turns it off', () => {
    expect(POLL_WINDOW_US_DEFAULT).toBeGreaterThan(0);
    const saved = process.env.RDMQ_POLL_WINDOW_US;
    try {
      process.env.RDMQ_POLL_WINDOW_US = '0';
      const off = new Transport();
      noteLoopActivity(false);
      noteLoopActivity(true);
      expect(off.stats()).toMatchObject({ pollScore: 0, polling: false });
      off.close();
      process.env.RDMQ_POLL_WINDOW_US = 'soon';
      expect(() => new Transport()).toThrow(/poll window must be 0\.\.1000000 microseconds, got soon/);
    } finally {
      if (saved === undefined) delete process.env.RDMQ_POLL_WINDOW_US;
      else process.env.RDMQ_POLL_WINDOW_US = saved;
    }
  });

  it('polls while messages come back within it, and stops once they come too seldom', async () => {
    // 50 ms: back-to-back round trips in one process land well within it, even on a loaded machine.
    const { server, ping, close } = await pingPong(50_000);
    try {
      for (let i = 0; i < 20; i++) await ping();
      expect(server.stats().pollScore).toBeGreaterThan(0);
      expect(server.stats().polling).toBe(true);
      // Each arrival 120 ms after the last activity is one the window could not have caught.
      for (let i = 0; i < 20 && server.stats().pollScore > 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 120));
        await ping();
      }
      expect(server.stats().pollScore).toBe(0);
      // With nothing to poll for, the window runs out and the worker sleeps on its event fd again.
      await until('polling to stop', () => !server.stats().polling);
    } finally {
      await close();
    }
  });

  it('never polls when it is 0', async () => {
    const { server, ping, close } = await pingPong(0);
    try {
      for (let i = 0; i < 20; i++) await ping();
      expect(server.stats()).toMatchObject({ pollScore: 0, polling: false });
    } finally {
      await close();
    }
  });

  it('counts traffic on the process\'s other doors: an answer soon after a request starts polling', async () => {
    const transport = new Transport({ pollWindowUs: 50_000 });
    try {
      expect(transport.stats()).toMatchObject({ pollScore: 0, polling: false });
      // A request sent on a socket, its answer back within the window.
      noteLoopActivity(false);
      noteLoopActivity(true);
      expect(transport.stats()).toMatchObject({ pollScore: 1, polling: true });
      await until('polling to stop after the window', () => !transport.stats().polling);
      // An answer long after the last activity is a miss.
      noteLoopActivity(true);
      expect(transport.stats()).toMatchObject({ pollScore: 0, polling: false });
      transport.close();
      // A closed transport is no longer told.
      noteLoopActivity(false);
      noteLoopActivity(true);
      expect(transport.stats().pollScore).toBe(0);
    } finally {
      transport.close();
    }
  });
});
