// The storage node's own count of checked-path puts or gets it served, read
// from the /metrics of a layout the test started (rdmq start serves one).
import type { StartedLayout } from '../../bench/layouts';

export async function dataRequestsServed(started: StartedLayout, op: 'put' | 'get'): Promise<number> {
  const text = await (await fetch(`http://${started.gatewayMetrics}/metrics`)).text();
  const line = new RegExp(`rdmq_storage_data_requests_served\\{op="${op}"[^}]*\\} (\\d+)`).exec(text);
  if (!line) throw new Error(`no rdmq_storage_data_requests_served{op="${op}"} in /metrics`);
  return Number(line[1]);
}
