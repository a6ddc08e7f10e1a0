// node kjmulti.js BYTES N BROKER:TOPIC... — in one process, N rounds reading each BROKER:TOPIC once with a fresh group, timed from GROUP_JOIN (as rdmq bench does)
const { Kafka, logLevel } = require('/work/main/node_modules/kafkajs');
const [bytesStr, nStr, ...targets] = process.argv.slice(2);
const targetArg = Number(bytesStr);
async function readOnce(broker, topic, target = 268000000) {
  const kafka = new Kafka({ brokers: [broker], clientId: 'kjmulti', logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: 'kjm-' + Date.now() + Math.random(), maxBytes: 64 << 20, maxBytesPerPartition: 32 << 20, maxWaitTimeInMs: 500 });
  let bytes = 0, first, tJoin, fetches = 0; const reqs = []; const others = {};
    consumer.on(consumer.events.REQUEST, (e) => { if (e.payload.apiName === 'Fetch') reqs.push([e.payload.sentAt, e.payload.duration, e.payload.pendingDuration, e.payload.size]); else { const a = (others[e.payload.apiName] ??= [0, 0]); a[0]++; a[1] += e.payload.duration; } });
  return new Promise(async (resolve) => {
    consumer.on(consumer.events.GROUP_JOIN, () => { tJoin = process.hrtime.bigint(); });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachBatch: async ({ batch }) => {
      first ??= process.hrtime.bigint();
      fetches++;
      for (const m of batch.messages) bytes += m.value.length;
      if (bytes >= target && bytes - target < 1e9) {
        const t = process.hrtime.bigint();
        const r = { fromJoin: bytes / 1e6 / (Number(t - tJoin) / 1e9), fromFirst: bytes / 1e6 / (Number(t - first) / 1e9), joinToFirst: Number(first - tJoin) / 1e6, batches: fetches, reqs, others };
        bytes = 2e9;
        setImmediate(async () => { await consumer.disconnect(); resolve(r); });
      }
    } });
  });
}
if (require.main === module) (async () => {
  for (let i = 0; i < Number(nStr); i++) for (const t of targets) {
    const [h, p, topic] = t.split(':');
    const r = await readOnce(`${h}:${p}`, topic, targetArg);
    console.log(`${t} round ${i}: from join ${r.fromJoin.toFixed(0)} MB/s, from first ${r.fromFirst.toFixed(0)} MB/s, join->first ${r.joinToFirst.toFixed(0)} ms, ${r.batches} batches`);
    const rq = r.reqs.slice(1, -1); const sum = (a) => a.reduce((x, y) => x + y, 0); const gaps = rq.slice(1).map((q, k) => q[0] - (rq[k][0] + rq[k][1]));
    console.log(`   fetches ${r.reqs.length}: mean duration ${(sum(rq.map(q=>q[1]))/rq.length).toFixed(1)} ms, pending ${(sum(rq.map(q=>q[2]))/rq.length).toFixed(1)} ms, mean size ${(sum(rq.map(q=>q[3]))/rq.length/1e6).toFixed(2)} MB, mean gap after response ${(sum(gaps)/gaps.length).toFixed(1)} ms; durations ${rq.map(q=>q[1]).join(' ')}`);
    console.log('   others: ' + Object.entries(r.others).map(([k, [n, d]]) => `${k} ${n}x ${(d / n).toFixed(1)} ms`).join(', '));
  }
  process.exit(0);
})();

module.exports = { readOnce };
