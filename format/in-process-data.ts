// Storage nodes whose data service runs in this very process (`rdmq start`),
// by the token of their local door (storage-data-wire.ts LOCAL_DOOR). A
// client whose link finds its node's token here reads committed bytes with
// a direct call instead of a GET_CMA request on the node's Unix socket: the
// node runs the same grant check (StorageNode.readableRange) and copies the
// bytes into the client's buffer on this thread, so no fence (free, seal,
// skip marker) can come between the check and the copy, and the client never
// holds a view of the region. Puts keep the socket.
//
// The token is the proof, as on the socket: only a link that asked the node's
// LOCAL_DOOR learns it.
//
// Contract: single-threaded (JS).

/** One client link's reads from an in-process node; its own memory of verified grants. */
export interface InProcessReads {
  /**
   * Copies [position, +into.length) of the segment `grant` names into `into`
   * after the node's check; throws the node's refusal (an error with a
   * string `code`: GRANT_INVALID, ACCESS_DENIED, GRANT_REVOKED, CLOSED, ...).
   */
  get(grant: Uint8Array, position: number, into: Uint8Array): void;
}

const doors = new Map<string, () => InProcessReads>();

/** Offers a node's reads to links of this process that present `token`; the result withdraws the offer. */
export function offerInProcessReads(token: Buffer, open: () => InProcessReads): () => void {
  const key = token.toString('hex');
  doors.set(key, open);
  return () => {
    if (doors.get(key) === open) doors.delete(key);
  };
}

/** Reads from the node behind `token`, when it serves in this process; undefined otherwise. */
export function openInProcessReads(token: Buffer): InProcessReads | undefined {
  return doors.get(token.toString('hex'))?.();
}
