// The storage node's own count of checked-path puts or gets it served, read
// from the /metrics of a layout the test started (rdmq start serves one), or
// of any storage node's metrics address.
import type { StartedLayout } from '../../bench/layouts';

export type DataDoor = 'tcp' | 'unix';

/** Puts or gets the node served through `door`, or through both doors together. */
export async function dataRequestsServedAt(metricsAddress: string, op: 'put' | 'get', door?: DataDoor): Promise<number> {
  const text = await (await fetch(`http://${metricsAddress}/metrics`)).text();
  const lines = [...text.matchAll(/^rdmq_storage_data_requests_served\{([^}]*)\} (\d+)$/gm)].filter(([, labels]) => labels.includes(`op="${op}"`));
  if (lines.length === 0) throw new Error(`no rdmq_storage_data_requests_served{op="${op}"} in /metrics of ${metricsAddress}`);
  return lines.filter(([, labels]) => door === undefined || labels.includes(`door="${door}"`)).reduce((sum, [, , count]) => sum + Number(count), 0);
}

export function dataRequestsServed(started: StartedLayout, op: 'put' | 'get'): Promise<number> {
  return dataRequestsServedAt(started.gatewayMetrics, op);
}
