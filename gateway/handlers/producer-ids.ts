// InitProducerId for idempotent producers: a new producer id, or (v3+) the
// next epoch of the caller's own id, which fences its older incarnation.
// Transactional ids need a transaction coordinator, which rdmq does not have.
import { Handler } from '../context';
import { kafkaError, toKafkaError } from '../errors';

export const initProducerId: Handler<'InitProducerId'> = async (body, call) => {
  const metadata = call.gateway.broker.metadata;
  const fail = (name: string, message: string) => {
    call.gateway.log(`InitProducerId refused: ${message}`);
    return { throttleTimeMs: 0, errorCode: kafkaError(name, message).code, producerId: -1n, producerEpoch: -1 };
  };
  if (body.transactionalId !== null) {
    return fail('TRANSACTIONAL_ID_AUTHORIZATION_FAILED', `transactional id '${body.transactionalId}': transactions are not supported by this gateway`);
  }
  try {
    if (body.producerId >= 0n) {
      const current = metadata.state.producers.get(body.producerId);
      if (!current) return fail('UNKNOWN_PRODUCER_ID', `producer id ${body.producerId} is unknown`);
      if (current.epoch !== body.producerEpoch) {
        return fail(call.apiVersion >= 4 ? 'PRODUCER_FENCED' : 'INVALID_PRODUCER_EPOCH', `producer ${body.producerId} epoch ${body.producerEpoch} is not the current epoch ${current.epoch}`);
      }
      const bumped = await metadata.bumpProducerEpoch(body.producerId);
      return { throttleTimeMs: 0, errorCode: 0, producerId: bumped.producerId, producerEpoch: bumped.epoch };
    }
    const allocated = await metadata.allocateProducerId();
    return { throttleTimeMs: 0, errorCode: 0, producerId: allocated.producerId, producerEpoch: allocated.epoch };
  } catch (err) {
    const error = toKafkaError(err);
    return fail(error.name, error.message);
  }
};
