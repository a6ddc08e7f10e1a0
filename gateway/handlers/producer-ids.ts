// InitProducerId for idempotent producers: always a new producer id at epoch 0.
// Transactional ids need a transaction coordinator, which rdmq does not have.
import { allowedIdempotentWrite, principalOf, refusal } from '../authorization';
import { Handler } from '../context';
import { kafkaError, toKafkaError } from '../errors';

export const initProducerId: Handler<'InitProducerId'> = async (body, call) => {
  const metadata = call.gateway.broker.metadata;
  const fail = (name: string, message: string) => {
    call.gateway.log(`InitProducerId refused: ${message}`);
    return { throttleTimeMs: 0, errorCode: kafkaError(name, message).code, producerId: -1n, producerEpoch: -1 };
  };
  if (body.transactionalId !== null) {
    const denied = refusal(call, 'WRITE', 'TRANSACTIONAL_ID', body.transactionalId);
    if (denied) return fail(denied.name, denied.message);
    return fail('TRANSACTIONAL_ID_AUTHORIZATION_FAILED', `transactional id '${body.transactionalId}': transactions are not supported by this gateway`);
  }
  if (!allowedIdempotentWrite(call)) {
    return fail('CLUSTER_AUTHORIZATION_FAILED', `${principalOf(call)} may not write idempotently: it needs IDEMPOTENT_WRITE on the cluster or WRITE on a topic`);
  }
  try {
    // Like Kafka without a transactional id: producerId/epoch in the request
    // are ignored (clients such as @platformatic/kafka send 0/0 on a fresh
    // start) and every call gets a new producer id at epoch 0. Bumping the
    // named id's epoch instead would fence whoever owns that id.
    const allocated = await metadata.allocateProducerId();
    return { throttleTimeMs: 0, errorCode: 0, producerId: allocated.producerId, producerEpoch: allocated.epoch };
  } catch (err) {
    const error = toKafkaError(err);
    return fail(error.name, error.message);
  }
};
