// Byte layout of a Kafka RecordBatch v2 ("magic 2"), all integers big-endian:
//
//   RecordBatch =>
//     BaseOffset => int64            0   not covered by the CRC: the log assigns it
//     BatchLength => int32           8   bytes after this field
//     PartitionLeaderEpoch => int32 12   not covered by the CRC: the leader sets it
//     Magic => int8                 16   2
//     CRC => uint32                 17   CRC32C of Attributes..end
//     Attributes => int16           21   bits 0-2 codec, 3 timestamp type,
//                                        4 transactional, 5 control, 6 delete horizon
//     LastOffsetDelta => int32      23
//     BaseTimestamp => int64        27
//     MaxTimestamp => int64         35
//     ProducerId => int64           43
//     ProducerEpoch => int16        51
//     BaseSequence => int32         53
//     RecordCount => int32          57
//     Records => bytes              61   compressed as one block when the codec is set

export const BASE_OFFSET_OFFSET = 0;
export const BATCH_LENGTH_OFFSET = 8;
export const PARTITION_LEADER_EPOCH_OFFSET = 12;
export const MAGIC_OFFSET = 16;
export const CRC_OFFSET = 17;
export const ATTRIBUTES_OFFSET = 21;
export const LAST_OFFSET_DELTA_OFFSET = 23;
export const BASE_TIMESTAMP_OFFSET = 27;
export const MAX_TIMESTAMP_OFFSET = 35;
export const PRODUCER_ID_OFFSET = 43;
export const PRODUCER_EPOCH_OFFSET = 51;
export const BASE_SEQUENCE_OFFSET = 53;
export const RECORD_COUNT_OFFSET = 57;
export const RECORDS_OFFSET = 61;

/** Header bytes of a batch with no records. */
export const RECORD_BATCH_OVERHEAD = 61;
/** BaseOffset + BatchLength: the bytes that precede what BatchLength counts. */
export const LOG_OVERHEAD = 12;
/** Smallest legal BatchLength: the header after LOG_OVERHEAD. */
export const BATCH_LENGTH_MIN = RECORD_BATCH_OVERHEAD - LOG_OVERHEAD;

export const MAGIC_V2 = 2;

export const TIMESTAMP_TYPE_ATTRIBUTE = 0x08;
export const TRANSACTIONAL_ATTRIBUTE = 0x10;
export const CONTROL_ATTRIBUTE = 0x20;

export const NO_PRODUCER_ID = -1n;
export const NO_PRODUCER_EPOCH = -1;
export const NO_SEQUENCE = -1;
export const NO_PARTITION_LEADER_EPOCH = -1;

/** Kafka's default cap would be ~1 MiB; rdmq's fast path moves batches up to 8 MiB. */
export const BATCH_BYTES_MAX_DEFAULT = 8 * 1024 * 1024;
