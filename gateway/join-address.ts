// A gateway joins the hub at its own address only: the host it asks Kafka
// clients to use must be the host its Join call comes from, so even a holder
// of the cluster secret cannot send clients to a third machine.
import { promises as dns } from 'dns';
import * as os from 'os';
import { isLoopbackHost } from '../control-plane';

/** "ipv4:1.2.3.4:5", "1.2.3.4:5", "[::1]:5" or "ipv6:[::1]:5" → the IP. */
export function peerIp(peer: string): string {
  const bare = peer.replace(/^ipv[46]:/, '');
  const at = bare.lastIndexOf(':');
  return (at < 0 ? bare : bare.slice(0, at)).replace(/^\[|\]$/g, '').replace(/^::ffff:/, '');
}

function localAddresses(): Set<string> {
  return new Set(Object.values(os.networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address)));
}

/** Why `host` is not the address of the caller at `peer`, or undefined when it is. */
export async function joinAddressRefusal(host: string, peer: string): Promise<string | undefined> {
  const from = peerIp(peer);
  let resolved: string[];
  try {
    resolved = (await dns.lookup(host, { all: true })).map((a) => a.address.replace(/^::ffff:/, ''));
  } catch (err) {
    return `gateway host "${host}" does not resolve here: ${(err as Error).message}`;
  }
  if (resolved.includes(from)) return undefined;
  // A gateway on this very host may advertise any of this host's addresses.
  if (isLoopbackHost(from) || localAddresses().has(from)) {
    const local = localAddresses();
    if (resolved.some((a) => isLoopbackHost(a) || local.has(a))) return undefined;
  }
  return `gateway host "${host}" (${resolved.join(', ')}) is not the address this Join came from (${from}); a gateway registers only itself`;
}
