// node kjbench.js NULLPORT GATEWAY — the bench's kafkajs row by hand: ceiling reads from the null server (1 untimed + 3), then a kafkajs producer writes 256 MiB (1 MiB batches of 1 KiB) to a new gateway topic, then one read of it, with request timings
const { Kafka, logLevel } = require('/work/main/node_modules/kafkajs');
const { readOnce } = require('./kjmulti.js');
const [nullPort, gw] = process.argv.slice(2);
const show = (label, r) => {
  const rq = r.reqs.slice(1, -1); const sum = (a) => a.reduce((x, y) => x + y, 0); const gaps = rq.slice(1).map((q, k) => q[0] - (rq[k][0] + rq[k][1]));
  console.log(`${label}: from join ${r.fromJoin.toFixed(0)} MB/s, from first ${r.fromFirst.toFixed(0)}, join->first ${r.joinToFirst.toFixed(0)} ms; fetch mean ${(sum(rq.map(q=>q[1]))/rq.length).toFixed(1)} ms, gap ${(sum(gaps)/gaps.length).toFixed(1)} ms; first 3 fetches ${r.reqs.slice(0,3).map(q=>q[1]).join(' ')} ms; ` + Object.entries(r.others).filter(([k]) => k !== 'OffsetCommit').map(([k, [n, d]]) => `${k} ${n}x${(d / n).toFixed(0)}`).join(' '));
};
(async () => {
  for (let i = 0; i < 4; i++) show(`null ${i}`, await readOnce(`127.0.0.1:${nullPort}`, 'k1'));
  const kafka = new Kafka({ brokers: [gw], clientId: 'kjbench', logLevel: logLevel.NOTHING });
  const admin = kafka.admin(); await admin.connect();
  const topic = 'kjb-' + Date.now();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] }); await admin.disconnect();
  const producer = kafka.producer({ allowAutoTopicCreation: false }); await producer.connect();
  const value = Buffer.alloc(1024, 0x62); const messages = Array.from({ length: 1000 }, () => ({ value, partition: 0 }));
  const t0 = process.hrtime.bigint();
  for (let b = 0; b < 263; b++) await producer.send({ topic, acks: -1, messages });
  console.log(`produced 256 MiB in ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(2)} s`);
  await producer.disconnect();
  show('gateway after produce', await readOnce(gw, topic));
  show('gateway again', await readOnce(gw, topic));
  show('null after', await readOnce(`127.0.0.1:${nullPort}`, 'k1'));
  process.exit(0);
})();
