// The shared record-batch v2 format every role imports.
export * from './batch-layout';
export { batchIntact, computeBatchCrc, writeBatchCrc } from './batch-crc';
export {
  BATCH_LIMITS_DEFAULT,
  BatchLimits,
  BatchSpan,
  BatchSplit,
  RecordBatchHeader,
  batchSizeBytes,
  readBaseOffset,
  readBatchHeader,
  readBatchMaxTimestamp,
  readBatchLength,
  requireBatchHeader,
  setBaseOffset,
  setPartitionLeaderEpoch,
  splitBatches,
  validateBatch,
  validateBatchHeader,
  walkRecords,
} from './record-batch';
export { RECORD_BATCH_ERRORS, RecordBatchError, RecordBatchErrorCode } from './record-batch-error';
export { Record, Record as KafkaRecord, RecordHeader, RecordInput, RecordLayout, fieldView, readRecordHeaders } from './records';
export {
  COMPRESSION_ATTRIBUTE_MASK,
  Compression,
  DECOMPRESSED_BYTES_MAX_DEFAULT,
  compress,
  compressionFromAttributes,
  compressionId,
  decompress,
} from './compression';
export { BuildRecordBatchOptions, DecodeOptions, DecodedRecordBatch, buildRecordBatch, buildUncompressedBatch, decodeRecordBatch, forEachRecord, peekFirstRecord, recordBase } from './batch-builder';
export { buildSkipMarker, isSkipMarker } from './skip-marker';
export { readInt64BE, toSafeNumber, writeInt64BE } from './int64';
export {
  MAX_SEQUENCE,
  PRODUCER_BATCHES_REMEMBERED,
  ProducerBatch,
  ProducerScan,
  ProducerWindow,
  ProducerWindows,
  foldProducerBatch,
  lastSequenceOf,
  mergeProducerWindows,
  scanProducerWindows,
} from './producer-windows';
export { NO_TIMESTAMP, headerMaxTimestampPlausible, maxRecordTimestamp, rewriteMaxTimestamp } from './batch-timestamps';
