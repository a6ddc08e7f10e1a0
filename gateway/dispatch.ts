// One handler per API the codec describes; the type makes a missing one a
// compile error, so ApiVersions never advertises an API nobody answers.
import { apiKeys, ApiName, decodeRequest, DecodedRequest, encodeResponse, encodeResponseChunks, ProtocolError } from './protocol';
import { Answer, DataContext, EncodedResponse, GatewayContext, Handler, NO_RESPONSE, RequestContext } from './context';
import { apiVersions, apiVersionsBody } from './handlers/api-versions';
import { KafkaSession } from './security/session';
import { saslAuthenticate, saslHandshake } from './handlers/sasl';
import { alterUserScramCredentials, describeUserScramCredentials } from './handlers/users';
import { createAcls, deleteAcls, describeAcls } from './handlers/acls';
import { alterConfigs, describeConfigs, incrementalAlterConfigs } from './handlers/configs';
import { fetch } from './handlers/fetch';
import { offsetCommit, offsetDelete, offsetFetch } from './handlers/group-offsets';
import { deleteGroups, describeGroups, findCoordinator, heartbeat, joinGroup, leaveGroup, listGroups, syncGroup } from './handlers/groups';
import { describeCluster, metadata } from './handlers/metadata';
import { deleteRecords, listOffsets, offsetForLeaderEpoch } from './handlers/offsets';
import { produce } from './handlers/produce';
import { initProducerId } from './handlers/producer-ids';
import { createPartitions, createTopics, deleteTopics } from './handlers/topics';

const handlers: { [N in ApiName]: Handler<N> } = {
  Produce: produce,
  Fetch: fetch,
  ListOffsets: listOffsets,
  Metadata: metadata,
  OffsetCommit: offsetCommit,
  OffsetFetch: offsetFetch,
  FindCoordinator: findCoordinator,
  JoinGroup: joinGroup,
  Heartbeat: heartbeat,
  LeaveGroup: leaveGroup,
  SyncGroup: syncGroup,
  DescribeGroups: describeGroups,
  ListGroups: listGroups,
  SaslHandshake: saslHandshake,
  ApiVersions: apiVersions,
  CreateTopics: createTopics,
  DeleteTopics: deleteTopics,
  DeleteRecords: deleteRecords,
  InitProducerId: initProducerId,
  OffsetForLeaderEpoch: offsetForLeaderEpoch,
  DescribeConfigs: describeConfigs,
  AlterConfigs: alterConfigs,
  SaslAuthenticate: saslAuthenticate,
  CreatePartitions: createPartitions,
  DeleteGroups: deleteGroups,
  IncrementalAlterConfigs: incrementalAlterConfigs,
  OffsetDelete: offsetDelete,
  DescribeCluster: describeCluster,
  DescribeUserScramCredentials: describeUserScramCredentials,
  AlterUserScramCredentials: alterUserScramCredentials,
  DescribeAcls: describeAcls,
  CreateAcls: createAcls,
  DeleteAcls: deleteAcls,
};

/** Runs the request's handler; resolves to the response body, or NO_RESPONSE. */
export async function dispatch(request: DecodedRequest, call: RequestContext<GatewayContext>): Promise<Answer> {
  const handler = handlers[request.apiName] as Handler<ApiName>;
  return handler(request.body as never, call);
}

/** The APIs a gateway answers without the broker: the data path, and what needs no state. */
export const dataHandlers = {
  ApiVersions: apiVersions,
  SaslHandshake: saslHandshake,
  SaslAuthenticate: saslAuthenticate,
  Produce: produce,
  Fetch: fetch,
} satisfies { [N in ApiName]?: Handler<N, DataContext> };

/**
 * Decodes a request frame. A frame Kafka answers without decoding (an
 * ApiVersions of a version it does not know: a v0 response with the error and
 * the version table) comes back encoded; anything malformed throws.
 */
export function decodeFrame(frame: Buffer, maxArrayLength: number): { request: DecodedRequest } | { answer: Buffer[] } {
  try {
    return { request: decodeRequest(frame, { maxArrayLength }) };
  } catch (err) {
    if (err instanceof ProtocolError && err.entry.name === 'UNSUPPORTED_VERSION' && err.apiKey === apiKeys.ApiVersions && err.correlationId !== null) {
      return { answer: [encodeResponse(apiKeys.ApiVersions, 0, err.correlationId, apiVersionsBody(err.code))] };
    }
    throw err;
  }
}

/** The bytes to write for an answer: none for NO_RESPONSE. */
export function encodeAnswer(request: DecodedRequest, answer: Answer): Buffer[] {
  if (answer === NO_RESPONSE) return [];
  if (answer instanceof EncodedResponse) return answer.chunks;
  const { apiKey, apiVersion, correlationId } = request.header;
  return encodeResponseChunks(apiKey, apiVersion, correlationId, answer);
}

/** Answers one whole request frame with the in-process broker's gateway (a forwarded request). */
export async function answerFrame(gateway: GatewayContext, frame: Buffer, clientHost: string, session = KafkaSession.forwarded('PLAINTEXT', '')): Promise<Buffer[]> {
  const decoded = decodeFrame(frame, gateway.limits.maxArrayLength);
  if ('answer' in decoded) return decoded.answer;
  const { request } = decoded;
  const answered = gateway.metrics?.begin(request.apiName);
  const answer = await dispatch(request, { gateway, header: request.header, apiVersion: request.header.apiVersion, clientHost, frame, session });
  answered?.(answer);
  return encodeAnswer(request, answer);
}
