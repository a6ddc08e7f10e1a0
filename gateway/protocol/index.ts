// The Kafka wire protocol for the gateway: framing, one data-driven codec for
// every described API, the error table, and body types handlers use.

export {
  decodeRequest,
  encodeRequest,
  encodeResponse,
  encodeResponseChunks,
  decodeResponse,
  supportedApiVersions,
  apiKeys,
  apiSpec,
} from './messages';
export type {
  ApiName,
  ApiVersionRange,
  DecodedRequest,
  RequestHeader,
  RequestBody,
  ResponseBody,
  RequestInput,
  ResponseInput,
} from './messages';
export { FrameSplitter, FrameError } from './frame';
export { KafkaError, ProtocolError, kafkaErrors, errorByCode, errorByName, errorCode } from './errors';
export type { KafkaErrorEntry } from './errors';
export { SchemaError } from './codec';
export { Reader, Writer, defaultReadLimits } from './wire';
export type { ReadLimits } from './wire';
export type { ApiSpec, FieldSpec, RecordsInput, UnknownTaggedField } from './schema';
export * from './apis';
