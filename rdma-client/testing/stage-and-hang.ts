// A producer that stages a batch, writes it, and then hangs without
// committing, so a test can SIGKILL it between stage and commit. Prints
// {"staged": true, "baseOffset": "n"} once the bytes are in place.
import { buildRecordBatch, setBaseOffset } from '../../format';
import { decodeStageReply, encodeStage, FastPathMessage } from '../../format/fastpath-wire';
import { Connection } from '../connection';

async function main(): Promise<void> {
  const [control, topicName] = process.argv.slice(2);
  const connection = await Connection.open({ control });
  const topic = await connection.describeTopic(topicName);
  const batch = await buildRecordBatch({ records: [{ key: null, value: 'never committed' }] });
  const reply = await connection.request(FastPathMessage.STAGE, (reqId) =>
    encodeStage({ reqId, topicId: topic.topicId, partition: 0, lengthBytes: batch.length, recordCount: 1 }),
  );
  const grant = decodeStageReply(reply.header);
  if (grant.errorCode !== 0) throw new Error(reply.payload.toString());
  setBaseOffset(batch, 0, grant.baseOffset);
  const replicas = connection.segmentReplicas(grant.segmentId, 'read-write', reply.payload);
  await connection.flush(await connection.putAll(replicas, grant.segmentId, batch, grant.position));
  process.stdout.write(JSON.stringify({ staged: true, baseOffset: grant.baseOffset.toString() }) + '\n');
  setInterval(() => undefined, 1 << 30);
}

main().catch((err) => {
  process.stderr.write(`stage-and-hang: ${(err as Error).message}\n`);
  process.exit(1);
});
