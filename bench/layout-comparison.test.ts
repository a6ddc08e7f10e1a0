// The roles apart beside rdmq start (report.ts layoutComparison): each door's
// median under each layout over its rounds, apart over start, and the rows
// that fall more than 10% short marked. Doors measured under one layout only
// have no row.
import { layoutComparison, layoutComparisonText, ResultPoint } from './report';

function point(layout: 'start' | 'apart', round: number, o: Partial<ResultPoint>): ResultPoint {
  return { target: 'fastpath', mode: 'exclusive', client: 'sdk raw batches', workload: 'produce', batchSize: 1 << 20, memcpyMBps: 20_000, layout, round, ...o };
}

describe('the layouts comparison', () => {
  it('takes each layout\'s median over its rounds, odd or even, for producers and consumers, and marks the rows below 0.90', () => {
    const points = [
      // 1 MiB produce: start 2000, 2400, 2200 → 2200; apart 1500, 2000, 1800 → 1800 (0.82).
      point('start', 1, { producerMBps: 2000 }),
      point('apart', 1, { producerMBps: 1500 }),
      point('start', 2, { producerMBps: 2400 }),
      point('apart', 2, { producerMBps: 2000 }),
      point('start', 3, { producerMBps: 2200 }),
      point('apart', 3, { producerMBps: 1800 }),
      // 8 KiB produce+consume, two rounds: producer start 400, 300 → 350; apart 340, 320 → 330 (0.94); consumer 1000 / 1100.
      point('start', 1, { batchSize: 8192, workload: 'produce+consume', producerMBps: 400, consumerMBps: 1000 }),
      point('apart', 1, { batchSize: 8192, workload: 'produce+consume', producerMBps: 340, consumerMBps: 1200 }),
      point('start', 2, { batchSize: 8192, workload: 'produce+consume', producerMBps: 300, consumerMBps: 1000 }),
      point('apart', 2, { batchSize: 8192, workload: 'produce+consume', producerMBps: 320, consumerMBps: 1000 }),
      // Under rdmq start only: no row.
      point('start', 1, { client: 'sdk send/eachMessage', producerMBps: 900 }),
    ];
    const rows = layoutComparison(points);
    expect(rows).toEqual([
      { target: 'fastpath', client: 'sdk raw batches', workload: 'produce', mode: 'exclusive', batchSize: 1 << 20, rounds: 3, producer: { start: 2200, apart: 1800, ratio: 1800 / 2200 }, consumer: undefined },
      {
        target: 'fastpath',
        client: 'sdk raw batches',
        workload: 'produce+consume',
        mode: 'exclusive',
        batchSize: 8192,
        rounds: 2,
        producer: { start: 350, apart: 330, ratio: 330 / 350 },
        consumer: { start: 1000, apart: 1100, ratio: 1.1 },
      },
    ]);
    const text = layoutComparisonText(points);
    expect(text).toMatch(/2200 \/ 1800\s+0\.82 \(below 0\.90\)/);
    expect(text).toMatch(/350 \/ 330\s+0\.94\s+1000 \/ 1100\s+1\.10/);
  });

  it('gives a row just below the line a third decimal, so it never reads as the line itself', () => {
    const text = layoutComparisonText([point('start', 1, { producerMBps: 2433 }), point('apart', 1, { producerMBps: 2185 })]);
    expect(text).toMatch(/2433 \/ 2185\s+0\.898 \(below 0\.90\)/);
    expect(layoutComparisonText([point('start', 1, { producerMBps: 1000 }), point('apart', 1, { producerMBps: 900 })])).toMatch(/1000 \/ 900\s+0\.90\s/);
  });

  it('has nothing to say about a run under one layout, or of points without a layout', () => {
    expect(layoutComparison([point('start', 1, { producerMBps: 1 })])).toEqual([]);
    expect(layoutComparisonText([{ ...point('start', 1, { producerMBps: 1 }), layout: undefined }])).toBe('');
  });
});
