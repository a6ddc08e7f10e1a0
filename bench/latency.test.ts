import { LatencyRecorder, SERIES_POINTS_MAX } from './latency';

describe('latency recorder', () => {
  it('reports percentiles within 0.1% and the exact max, in order', () => {
    const recorder = new LatencyRecorder();
    for (let us = 1; us <= 100_000; us++) recorder.record(us, us / 1000);
    const s = recorder.summary();
    expect(s.p50).toBeGreaterThanOrEqual(50_000 * 0.999);
    expect(s.p50).toBeLessThanOrEqual(50_000 * 1.001);
    expect(s.p99).toBeGreaterThanOrEqual(99_000 * 0.999);
    expect(s.p999).toBeLessThanOrEqual(s.max);
    expect(s.max).toBe(100_000);
    expect(recorder.count).toBe(100_000);
  });

  it('keeps a bounded series over the whole run with its worst samples, and a CDF up to the max', () => {
    const recorder = new LatencyRecorder();
    const samples = SERIES_POINTS_MAX * 5;
    for (let i = 0; i < samples; i++) recorder.record(i === samples - 3 ? 9_999_999 : 100, i);
    const series = recorder.overTime();
    expect(series.length).toBeLessThanOrEqual(SERIES_POINTS_MAX);
    expect(series[series.length - 1][0]).toBeGreaterThan(samples * 0.99);
    expect(Math.max(...series.map(([, us]) => us))).toBe(9_999_999);
    const cdf = recorder.cdf();
    expect(cdf[0]).toEqual([0, 100]);
    expect(cdf[cdf.length - 1]).toEqual([100, 9_999_999]);
    expect(recorder.encoded()).toMatch(/^[A-Za-z0-9+/=]+$/);
  });

  it('records nothing as empty, not as zeros', () => {
    const recorder = new LatencyRecorder();
    expect(recorder.count).toBe(0);
    expect(recorder.cdf()).toEqual([]);
    expect(recorder.overTime()).toEqual([]);
  });
});
