// Latency percentiles over recorded samples (microseconds).
export interface LatencySummary {
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

export function summarize(samplesUs: number[]): LatencySummary {
  if (samplesUs.length === 0) return { p50: 0, p99: 0, p999: 0, max: 0 };
  const sorted = Float64Array.from(samplesUs).sort();
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { p50: round(at(0.5)), p99: round(at(0.99)), p999: round(at(0.999)), max: round(sorted[sorted.length - 1]) };
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}
