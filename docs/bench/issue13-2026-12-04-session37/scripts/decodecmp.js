// node decodecmp.js HOST:PORT:TOPIC... — one Fetch v11 of 8 MiB from offset 0 from each, then kafkajs's v11 decode timed on each answer
const net = require('net');
const { encodeRequest, apiKeys, FrameSplitter } = require('/work/main/dist/gateway/protocol');
const { decode } = require('/work/main/node_modules/kafkajs/src/protocol/requests/fetch/v11/response');
async function fetchRaw(host, port, topic) {
  const s = net.connect(Number(port), host); await new Promise((r) => s.once('connect', r));
  const splitter = new FrameSplitter(64 << 20);
  const frame = new Promise((resolve) => s.on('data', (c) => { for (const f of splitter.push(c)) resolve(f); }));
  s.write(encodeRequest({ apiKey: apiKeys.Fetch, apiVersion: 11, correlationId: 7, clientId: 'dc' }, { replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 8 << 20, isolationLevel: 1, sessionId: 0, sessionEpoch: -1, topics: [{ topic, partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 8 << 20, logStartOffset: -1n }] }], forgottenTopicsData: [], rackId: '' }));
  const f = await frame; s.destroy();
  return Buffer.from(f.subarray(4)); // after the correlation id
}
(async () => {
  const payloads = [];
  for (const t of process.argv.slice(2)) { const [h, p, topic] = t.split(':'); payloads.push([t, await fetchRaw(h, p, topic)]); }
  for (let round = 0; round < 4; round++) for (const [t, raw] of payloads) {
    const t0 = process.hrtime.bigint(); let msgs = 0;
    for (let i = 0; i < 10; i++) { const r = await decode(raw); msgs = r.responses[0].partitions[0].messages.length; }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6 / 10;
    console.log(`${t}: ${(raw.length / 1e6).toFixed(2)} MB, ${msgs} records, decode ${ms.toFixed(1)} ms = ${(ms / (raw.length / 1e6)).toFixed(2)} ms/MB`);
  }
})();
