// Byte-for-byte compatibility with a real Kafka client's codec: kafkajs's
// own RecordBatch v2 encoder and decoder (its internal modules, reached by
// path because kafkajs does not export them). kafkajs ships only gzip, so
// the other codecs are covered by the framing tests in compression.test.ts.
import { buildRecordBatch, decodeRecordBatch } from './batch-builder';
import { Compression } from './compression';
import { validateBatch } from './record-batch';
import { buildSkipMarker } from './skip-marker';

const Long = require('kafkajs/src/utils/long');
const KafkaDecoder = require('kafkajs/src/protocol/decoder');
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0');
const KafkaRecord = require('kafkajs/src/protocol/recordBatch/record/v0');
const decodeKafkajsBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder');
const { Types: KafkajsCompression } = require('kafkajs/src/protocol/message/compression');

const BASE_TIMESTAMP = 1700000000000;

interface KafkajsRecord {
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: { [key: string]: Buffer | Buffer[] };
}

async function kafkajsBatch(compression: number): Promise<Buffer> {
  const records = [
    KafkaRecord({ offsetDelta: 0, timestampDelta: 0, key: Buffer.from('key-0'), value: Buffer.from('value-0'), headers: { h: 'x' } }),
    KafkaRecord({ offsetDelta: 1, timestampDelta: 7, key: null, value: Buffer.from('ünïcödé ✓'), headers: {} }),
    KafkaRecord({ offsetDelta: 2, timestampDelta: 3, key: Buffer.from('k'), value: null, headers: { a: '1', b: '2' } }),
  ];
  const encoder = await RecordBatch({
    compression,
    firstOffset: Long.fromValue(1000),
    firstTimestamp: BASE_TIMESTAMP,
    maxTimestamp: BASE_TIMESTAMP + 7,
    lastOffsetDelta: 2,
    producerId: Long.fromValue(77),
    producerEpoch: 2,
    firstSequence: 5,
    records,
  });
  return encoder.buffer;
}

describe('interop with kafkajs record batches', () => {
  test.each([
    ['none', KafkajsCompression.None],
    ['gzip', KafkajsCompression.GZIP],
  ])('a %s batch encoded by kafkajs validates and decodes here', async (codec, kafkajsCodec) => {
    const batch = await kafkajsBatch(kafkajsCodec);
    const header = validateBatch(batch);
    expect(header).toMatchObject({ compression: codec, baseOffset: 1000n, producerId: 77n, producerEpoch: 2, baseSequence: 5, recordCount: 3 });
    const { records } = await decodeRecordBatch(batch);
    expect(records).toEqual([
      { key: Buffer.from('key-0'), value: Buffer.from('value-0'), headers: [{ key: 'h', value: Buffer.from('x') }], timestamp: 1700000000000n, offset: 1000n },
      { key: null, value: Buffer.from('ünïcödé ✓'), headers: [], timestamp: 1700000000007n, offset: 1001n },
      {
        key: Buffer.from('k'),
        value: null,
        headers: [
          { key: 'a', value: Buffer.from('1') },
          { key: 'b', value: Buffer.from('2') },
        ],
        timestamp: 1700000000003n,
        offset: 1002n,
      },
    ]);
  });

  test('an uncompressed kafkajs batch and ours are the same bytes for the same content', async () => {
    const theirs = await kafkajsBatch(KafkajsCompression.None);
    const ours = await buildRecordBatch({
      records: [
        { key: 'key-0', value: 'value-0', headers: [{ key: 'h', value: 'x' }], timestamp: BASE_TIMESTAMP },
        { key: null, value: 'ünïcödé ✓', headers: [], timestamp: BASE_TIMESTAMP + 7 },
        { key: 'k', value: null, headers: [{ key: 'a', value: '1' }, { key: 'b', value: '2' }], timestamp: BASE_TIMESTAMP + 3 },
      ],
      baseOffset: 1000n,
      producerId: 77n,
      producerEpoch: 2,
      baseSequence: 5,
      partitionLeaderEpoch: 0, // kafkajs always writes 0 here
    });
    expect(ours.toString('hex')).toBe(theirs.toString('hex'));
  });

  test.each(['none', 'gzip'] as Compression[])('a %s batch encoded here decodes in kafkajs', async (codec) => {
    const batch = await buildRecordBatch({
      records: [
        { key: 'k1', value: 'v1', headers: [{ key: 'trace', value: 'abc' }], timestamp: BASE_TIMESTAMP },
        { key: null, value: '🎉', headers: [], timestamp: BASE_TIMESTAMP - 5 },
      ],
      compression: codec,
      baseOffset: 42n,
      producerId: 9n,
      producerEpoch: 1,
      baseSequence: 0,
      isTransactional: true,
    });
    const decoded = await decodeKafkajsBatch(new KafkaDecoder(batch));
    expect(decoded).toMatchObject({
      firstOffset: '42',
      inTransaction: true,
      isControlBatch: false,
      lastOffsetDelta: 1,
      producerId: '9',
      producerEpoch: 1,
      firstSequence: 0,
      maxTimestamp: String(BASE_TIMESTAMP),
    });
    const records = decoded.records as KafkajsRecord[];
    expect(records.map((record) => [record.offset, record.timestamp, record.key, record.value, record.headers])).toEqual([
      ['42', String(BASE_TIMESTAMP), Buffer.from('k1'), Buffer.from('v1'), { trace: Buffer.from('abc') }],
      ['43', String(BASE_TIMESTAMP - 5), null, Buffer.from('🎉'), {}],
    ]);
  });

  test('kafkajs reads a skip marker as an empty control batch and steps past its bytes', async () => {
    const after = await buildRecordBatch({ records: [{ key: null, value: 'next' }], baseOffset: 10n });
    const decoder = new KafkaDecoder(Buffer.concat([buildSkipMarker(200, 5n, 5), after]));
    const marker = await decodeKafkajsBatch(decoder);
    expect(marker).toMatchObject({ firstOffset: '5', isControlBatch: true, lastOffsetDelta: 4, records: [] });
    const next = await decodeKafkajsBatch(decoder);
    expect(next.records.map((record: KafkajsRecord) => record.offset)).toEqual(['10']);
  });
});
