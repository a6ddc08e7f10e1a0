// Hostile clients against a running gateway: random bodies for every API and
// version, mutated frames, random bytes and half-sent giant frames. The
// gateway must answer or close the one connection, keep answering a valid
// ApiVersions on a fresh one, and keep its memory bounded.
import fc from 'fast-check';
import * as fs from 'fs';
import * as net from 'net';
import { allApis, ApiSpec, encodeRequest } from './protocol';
import { allApiVersions, bodyArbitrary } from './protocol/test-support/arbitraries';
import { ClusterProcess, startCluster } from '../bench/cluster';
import { RawKafkaClient } from './testing/raw-client';
import { applyMutations, byteMutation, ByteMutation } from './testing/mutations';

const everyVersion = allApiVersions(allApis as readonly ApiSpec[]);
const MiB = 1024 * 1024;
/** RDMQ_FUZZ_SCALE=10 runs ten times as many cases (for hunting, not for CI). */
const scale = Math.max(1, Number(process.env.RDMQ_FUZZ_SCALE ?? 1));
const runs = (n: number) => Math.round(n * scale);

const request = fc
  .constantFrom(...everyVersion)
  .chain(({ api, version }) => bodyArbitrary(api, version, 'request').map((body) => ({ api, version, body })));

function encode(r: { api: ApiSpec; version: number; body: Record<string, unknown> }, correlationId: number): Buffer | null {
  try {
    return encodeRequest({ apiKey: r.api.apiKey, apiVersion: r.version, correlationId, clientId: 'fuzz' }, r.body);
  } catch {
    return null; // a body the codec itself refuses to write (out-of-range value): not a frame
  }
}


/** Damages the frame after its size prefix, then fixes the prefix so the damage reaches the decoder. */
function mutate(frame: Buffer, mutations: ByteMutation[], keepSize: boolean): Buffer {
  const body = applyMutations(frame.subarray(4), mutations);
  const size = Buffer.alloc(4);
  size.writeInt32BE(keepSize ? frame.length - 4 : body.length, 0);
  return Buffer.concat([size, body]);
}

/** Sends bytes on a fresh connection; waits until the gateway answers, closes it, or `waitMs` pass. */
function sendAndForget(address: string, bytes: Buffer, waitMs: number): Promise<void> {
  const at = address.lastIndexOf(':');
  return new Promise((resolve) => {
    const socket = net.connect(Number(address.slice(at + 1)), address.slice(0, at), () => socket.write(bytes));
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    };
    const timer = setTimeout(done, waitMs);
    socket.on('data', done);
    socket.on('close', done);
    socket.on('error', done);
  });
}

function rssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

describe('a gateway under hostile clients', () => {
  let gateway: ClusterProcess;

  let failuresBefore = 0;
  beforeEach(() => {
    failuresBefore = gateway.failures().length;
  });

  const stillAnswers = async () => {
    const probe = await RawKafkaClient.connect(gateway.kafka);
    try {
      const res = await probe.request('ApiVersions', 3, {});
      expect(res.errorCode).toBe(0);
      // Handlers answer bad input in the response; one that throws is a bug even if the gateway survives.
      expect(gateway.failures().slice(failuresBefore)).toEqual([]);
    } finally {
      probe.close();
    }
  };

  beforeAll(async () => {
    gateway = await startCluster({
      regionSize: '256M',
      gatewayLimits: { maxFrameBytes: 64 * MiB, maxPartitionsPerTopic: 4, maxFetchWaitMs: 200, maxInFlightPerConnection: 8 },
      nodeFlags: ['--max-old-space-size=512'],
    });
  });

  afterAll(async () => {
    await gateway?.stop();
  });

  it('random valid requests of every API and version are answered or refused, never crash it', async () => {
    let id = 0;
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const frame = encode(r, ++id);
        if (frame) await sendAndForget(gateway.kafka, frame, 150);
      }),
      { numRuns: runs(400) },
    );
    await stillAnswers();
  });

  it('mutated frames, random bytes and pipelines of them close at most their own connection', async () => {
    let id = 0;
    await fc.assert(
      fc.asyncProperty(request, fc.array(byteMutation, { minLength: 1, maxLength: 4 }), fc.boolean(), async (r, mutations, keepSize) => {
        const frame = encode(r, ++id);
        if (frame) await sendAndForget(gateway.kafka, mutate(frame, mutations, keepSize), 100);
      }),
      { numRuns: runs(300) },
    );
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => sendAndForget(gateway.kafka, Buffer.from(bytes), 50)),
      { numRuns: runs(100) },
    );
    // Several requests back to back on one connection, some damaged.
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(request, fc.option(fc.array(byteMutation, { maxLength: 2 }), { nil: null })), { minLength: 2, maxLength: 6 }), async (items) => {
        const frames = items.flatMap(([r, m]) => {
          const frame = encode(r, ++id);
          return frame ? [m ? mutate(frame, m, false) : frame] : [];
        });
        await sendAndForget(gateway.kafka, Buffer.concat(frames), 150);
      }),
      { numRuns: runs(60) },
    );
    await stillAnswers();
    expect(gateway.child.exitCode).toBeNull();
  });

  it('keeps its memory bounded after thousands of hostile frames and half-sent giant ones', async () => {
    const pid = gateway.child.pid!;
    await stillAnswers();
    const before = rssBytes(pid);
    let id = 0;
    const samples = fc.sample(request, { numRuns: 1500, seed: 42 });
    for (let i = 0; i < samples.length; i += 50) {
      await Promise.all(
        samples.slice(i, i + 50).map((r) => {
          const frame = encode(r, ++id);
          return frame ? sendAndForget(gateway.kafka, frame, 50) : Promise.resolve();
        }),
      );
    }
    // Frames announcing 60 MiB, sent 4 MiB of, then abandoned: buffered only while the connection lives.
    for (let round = 0; round < 4; round++) {
      await Promise.all(
        Array.from({ length: 5 }, () => {
          const bytes = Buffer.alloc(4 * MiB);
          bytes.writeInt32BE(60 * MiB, 0);
          return sendAndForget(gateway.kafka, bytes, 200);
        }),
      );
    }
    await stillAnswers();
    const after = rssBytes(pid);
    expect(after - before).toBeLessThan(200 * MiB);
    expect(after).toBeLessThan(900 * MiB);
  });
});
