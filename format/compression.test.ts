import { compress as snappyRaw } from 'snappy';
import { Compression, compress, compressionFromAttributes, compressionId, decompress } from './compression';
import { isXerialFramed } from './snappy-framing';
import { RecordBatchError } from './record-batch-error';

const CODECS: Compression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
const ONE_MIB = 1024 * 1024;

function sampleBytes(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 7)) & 0xff;
  return bytes;
}

async function expectRejection(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(RecordBatchError);
  expect((error as RecordBatchError).code).toBe(code);
  expect((error as RecordBatchError).message).toMatch(message);
}

describe('compression codecs', () => {
  test('codec ids follow the attribute bits 0..4', () => {
    expect(CODECS.map(compressionId)).toEqual([0, 1, 2, 3, 4]);
    expect(compressionFromAttributes(0x13)).toBe('lz4');
  });

  test.each(CODECS)('%s round-trips empty, small and multi-block inputs', async (codec) => {
    for (const input of [Buffer.alloc(0), Buffer.from('hello, kafka'), sampleBytes(300 * 1024)]) {
      const packed = await compress(codec, input);
      expect((await decompress(codec, packed)).equals(input)).toBe(true);
    }
  });

  test('snappy is written with the xerial framing the Java client uses', async () => {
    const packed = await compress('snappy', sampleBytes(100 * 1024));
    expect(packed.subarray(0, 16).toString('hex')).toBe('82534e415050590000000001' + '00000001');
    expect(isXerialFramed(packed)).toBe(true);
  });

  test('snappy also reads a raw block with no framing, as librdkafka may send', async () => {
    const input = sampleBytes(50 * 1024);
    const raw = await snappyRaw(input);
    expect(isXerialFramed(raw)).toBe(false);
    expect((await decompress('snappy', raw)).equals(input)).toBe(true);
  });

  test('snappy reads two concatenated xerial streams as one', async () => {
    const first = await compress('snappy', Buffer.from('first '));
    const second = await compress('snappy', Buffer.from('second'));
    expect((await decompress('snappy', Buffer.concat([first, second]))).toString()).toBe('first second');
  });

  test('lz4 frames carry what Kafka\'s Java reader requires: version 01, independent blocks, no reserved bits', async () => {
    const packed = await compress('lz4', sampleBytes(1000));
    expect(packed.readUInt32LE(0)).toBe(0x184d2204);
    const flg = packed[4];
    expect(flg >> 6).toBe(1);
    expect((flg >> 5) & 1).toBe(1);
    expect(flg & 0x03).toBe(0);
  });

  test.each(['gzip', 'snappy', 'lz4', 'zstd'] as Compression[])(
    '%s output beyond the cap fails with MESSAGE_TOO_LARGE (a zip bomb)',
    async (codec) => {
      const bomb = await compress(codec, Buffer.alloc(16 * ONE_MIB));
      expect(bomb.length).toBeLessThan(ONE_MIB);
      await expectRejection(decompress(codec, bomb, ONE_MIB), 'MESSAGE_TOO_LARGE', /exceeding the limit of 1048576 decompressed bytes/);
    },
  );

  test('the default cap stops a 100 MiB zstd bomb', async () => {
    const bomb = await compress('zstd', Buffer.alloc(100 * ONE_MIB));
    await expectRejection(decompress('zstd', bomb), 'MESSAGE_TOO_LARGE', /limit of 67108864/);
  });

  test('output exactly at the cap is allowed', async () => {
    const input = sampleBytes(ONE_MIB);
    for (const codec of CODECS) {
      expect((await decompress(codec, await compress(codec, input), ONE_MIB)).length).toBe(ONE_MIB);
    }
  });

  test.each(['gzip', 'snappy', 'lz4', 'zstd'] as Compression[])('%s garbage is CORRUPT_MESSAGE', async (codec) => {
    await expectRejection(decompress(codec, Buffer.from('definitely not compressed data')), 'CORRUPT_MESSAGE', new RegExp(`${codec} records could not be decompressed`));
  });

  test.each(['gzip', 'snappy', 'lz4', 'zstd'] as Compression[])('%s cut short is CORRUPT_MESSAGE', async (codec) => {
    const packed = await compress(codec, sampleBytes(200 * 1024));
    await expectRejection(decompress(codec, packed.subarray(0, packed.length - 10)), 'CORRUPT_MESSAGE', /could not be decompressed/);
  });
});
