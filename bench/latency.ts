// Latency as an HDR histogram (hdr-histogram-js, its pure-JS form): three
// significant digits at any count in bounded memory, where a sorted array of
// every sample grows with the run. Beside it, a bounded series over time that
// keeps each bucket's worst sample, so spikes stay visible in the plots.
import * as hdr from 'hdr-histogram-js';

export interface LatencySummary {
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

/** An hour: anything slower is recorded as an hour (the histogram's bound). */
export const LATENCY_US_MAX = 3600e6;
/** Points kept in the series over time; older ones are merged pairwise past this. */
export const SERIES_POINTS_MAX = 20_000;

/** Percentiles a CDF is drawn through: dense in the tail, where latency hides. */
const CDF_PERCENTILES = [
  ...Array.from({ length: 90 }, (_, i) => i),
  ...Array.from({ length: 18 }, (_, i) => 90 + i * 0.5),
  ...Array.from({ length: 10 }, (_, i) => 99 + i * 0.1),
  ...Array.from({ length: 10 }, (_, i) => 99.9 + i * 0.01),
  99.99,
  99.999,
  100,
];

/** Records latencies in µs. Not shared between runs: one recorder per measured figure. */
export class LatencyRecorder {
  private readonly histogram = hdr.build({ useWebAssembly: false, bitBucketSize: 32, autoResize: false, lowestDiscernibleValue: 1, highestTrackableValue: LATENCY_US_MAX, numberOfSignificantValueDigits: 3 });
  private readonly series: [number, number][] = [];
  /** Samples per series point; doubles each time the series is merged. */
  private stride = 1;
  private pending: [number, number] | undefined;
  private pendingCount = 0;

  /** One latency of `latencyUs`, observed `msSinceStart` into the run. */
  record(latencyUs: number, msSinceStart: number): void {
    const us = Math.min(LATENCY_US_MAX, Math.max(0, Math.round(latencyUs)));
    this.histogram.recordValue(us);
    if (this.pending === undefined || us > this.pending[1]) this.pending = [msSinceStart, us];
    if (++this.pendingCount < this.stride) return;
    this.series.push(this.pending);
    this.pending = undefined;
    this.pendingCount = 0;
    if (this.series.length >= SERIES_POINTS_MAX) this.mergeSeries();
  }

  get count(): number {
    return this.histogram.totalCount;
  }

  summary(): LatencySummary {
    const h = this.histogram;
    // A percentile is the top of its bucket (within 0.1%); the max is exact, and no percentile exceeds it.
    const max = h.maxValue;
    const at = (p: number): number => Math.min(max, h.getValueAtPercentile(p));
    return { p50: at(50), p99: at(99), p999: at(99.9), max };
  }

  /** [percentile 0..100, µs], empty if nothing was recorded. */
  cdf(): [number, number][] {
    if (this.count === 0) return [];
    const max = this.histogram.maxValue;
    return CDF_PERCENTILES.map((p) => [p, Math.min(max, this.histogram.getValueAtPercentile(p))]);
  }

  /** [ms since start, µs], at most SERIES_POINTS_MAX points, each the worst of its bucket. */
  overTime(): [number, number][] {
    return this.pending ? [...this.series, this.pending] : [...this.series];
  }

  /** The whole histogram in HdrHistogram's compressed base64 form, readable by HdrHistogram tools. */
  encoded(): string {
    return hdr.encodeIntoCompressedBase64(this.histogram);
  }

  private mergeSeries(): void {
    const merged: [number, number][] = [];
    for (let i = 0; i < this.series.length; i += 2) {
      const a = this.series[i];
      const b = this.series[i + 1];
      merged.push(b !== undefined && b[1] > a[1] ? b : a);
    }
    this.series.splice(0, this.series.length, ...merged);
    this.stride *= 2;
  }
}
