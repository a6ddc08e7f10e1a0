// Hostile input: whatever bytes arrive, the decoder returns a body or throws
// ProtocolError, quickly, without allocating past the frame it was given.

import fc from 'fast-check';
import { allApis, ApiSpec, decodeRequest, decodeResponse, encodeRequest, encodeResponse, ProtocolError, supportedApiVersions } from './index';
import { allApiVersions, bodyArbitrary } from './test-support/arbitraries';
import { applyMutations, byteMutation } from '../testing/mutations';

const everyVersion = allApiVersions(allApis as readonly ApiSpec[]);

function onlyProtocolErrors(decode: () => unknown): void {
  try {
    decode();
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
  }
}


describe('decoding hostile bytes', () => {
  test('random bytes never throw anything but ProtocolError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => onlyProtocolErrors(() => decodeRequest(Buffer.from(bytes)))),
      { numRuns: 5000 },
    );
  });

  test('random bodies behind a valid header of every api and version never throw anything but ProtocolError', () => {
    const header = fc.constantFrom(...supportedApiVersions).chain((v) =>
      fc.record({ apiKey: fc.constant(v.apiKey), apiVersion: fc.integer({ min: v.minVersion, max: v.maxVersion }) }),
    );
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 300 }), ({ apiKey, apiVersion }, tail) => {
        const head = Buffer.alloc(10);
        head.writeInt16BE(apiKey, 0);
        head.writeInt16BE(apiVersion, 2);
        head.writeInt32BE(1, 4);
        head.writeInt16BE(0, 8);
        onlyProtocolErrors(() => decodeRequest(Buffer.concat([head, Buffer.from(tail)])));
        onlyProtocolErrors(() => decodeResponse(apiKey, apiVersion, Buffer.concat([head.subarray(4, 8), Buffer.from(tail)])));
      }),
      { numRuns: 5000 },
    );
  });

  test.each(everyVersion.map(({ api, version }) => [api.name, version, api] as const))(
    'mutated %s v%d requests and responses never throw anything but ProtocolError',
    (_name, version, api) => {
      fc.assert(
        fc.property(
          bodyArbitrary(api, version, 'request'),
          bodyArbitrary(api, version, 'response'),
          fc.array(byteMutation, { minLength: 1, maxLength: 4 }),
          (requestBody, responseBody, mutations) => {
            const request = encodeRequest({ apiKey: api.apiKey, apiVersion: version, correlationId: 1, clientId: 'c' }, requestBody);
            onlyProtocolErrors(() => decodeRequest(applyMutations(request.subarray(4), mutations)));
            const response = encodeResponse(api.apiKey, version, 1, responseBody);
            onlyProtocolErrors(() => decodeResponse(api.apiKey, version, applyMutations(response.subarray(4), mutations)));
          },
        ),
        { numRuns: 60 },
      );
    },
  );
});

describe('claimed lengths are checked before anything is allocated', () => {
  const produceV3Head = () => Buffer.concat([
    Buffer.from([0, 0, 0, 3, 0, 0, 0, 1, 0xff, 0xff]), // Produce v3, correlation 1, null client id
    Buffer.from([0xff, 0xff]), // transactional id: null
    Buffer.from([0xff, 0xff, 0, 0, 0x03, 0xe8]), // acks -1, timeout 1000
  ]);

  function expectFastFailure(frame: Buffer, pattern: RegExp, limits?: { maxArrayLength: number }) {
    const heapBefore = process.memoryUsage().heapUsed;
    const started = process.hrtime.bigint();
    expect(() => decodeRequest(frame, limits)).toThrow(pattern);
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
    expect(elapsedMs).toBeLessThan(50);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(16 * 1024 * 1024);
  }

  test('an array claiming 2^31-1 elements fails fast', () => {
    const frame = Buffer.concat([produceV3Head(), Buffer.from([0x7f, 0xff, 0xff, 0xff]), Buffer.alloc(64)]);
    expectFastFailure(frame, /array of 2147483647/);
  });

  test('a compact array claiming 2^32-2 elements fails fast', () => {
    // Metadata v9: header v2 (tagged fields), then topics as a compact array.
    const frame = Buffer.from([0, 3, 0, 9, 0, 0, 0, 1, 0xff, 0xff, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 0, 0, 0]);
    expectFastFailure(frame, /array of 4294967294/);
  });

  test('an array whose elements cannot fit in the bytes left fails before allocating', () => {
    // 100000 topics claimed; each needs at least 2 + 4 bytes; only 64 bytes follow.
    const frame = Buffer.concat([produceV3Head(), Buffer.from([0x00, 0x01, 0x86, 0xa0]), Buffer.alloc(64)]);
    expectFastFailure(frame, /needs at least 600000 bytes/);
  });

  test('the array length limit is configurable', () => {
    const body = { acks: 1, timeoutMs: 1, topicData: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] };
    const frame = encodeRequest({ apiKey: 0, apiVersion: 3, correlationId: 1, clientId: null }, body).subarray(4);
    expect(decodeRequest(frame).body).toMatchObject({ topicData: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] });
    expectFastFailure(frame, /exceeds the limit of 2/, { maxArrayLength: 2 });
  });

  test('strings and byte fields longer than the frame fail fast', () => {
    const longBytes = Buffer.concat([
      produceV3Head(), Buffer.from([0, 0, 0, 1]), Buffer.from([0, 1, 0x74]), Buffer.from([0, 0, 0, 1]), Buffer.from([0, 0, 0, 0]),
      Buffer.from([0x7f, 0xff, 0xff, 0xff]), Buffer.alloc(8),
    ]);
    expectFastFailure(longBytes, /length 2147483647 exceeds/);
    const longString = Buffer.concat([produceV3Head().subarray(0, 10), Buffer.from([0x7f, 0xff]), Buffer.alloc(8)]);
    expectFastFailure(longString, /length 32767 exceeds/);
  });

  test('a varint longer than 5 bytes is rejected', () => {
    const frame = Buffer.from([0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff, 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
    expectFastFailure(frame, /varint longer than 5 bytes/);
  });
});
