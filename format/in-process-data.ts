// Storage nodes whose data service runs in this very process (`rdmq start`),
// by the token of their local door (storage-data-wire.ts LOCAL_DOOR). A
// client whose link finds its node's token here puts and gets with a direct
// call instead of a request on the node's Unix socket: the node runs the
// same grant check (StorageNode.writableRange / readableRange) and copies
// between the client's buffer and its region on this thread, so no fence
// (free, seal, skip marker, commit) can come between the check and the copy,
// and the client never holds a view of the region.
//
// The token is the proof, as on the socket: only a link that asked the node's
// LOCAL_DOOR learns it.
//
// Contract: single-threaded (JS).

/** One client link's puts and gets at an in-process node; its own memory of verified grants. */
export interface InProcessData {
  /**
   * Copies [position, +into.length) of the segment `grant` names into `into`
   * after the node's check; throws the node's refusal (an error with a
   * string `code`: GRANT_INVALID, ACCESS_DENIED, GRANT_REVOKED, CLOSED, ...).
   */
  get(grant: Uint8Array, position: number, into: Uint8Array): void;
  /** Copies `from` to [position, +from.length) of the segment `grant` names, after the node's check; throws its refusal. */
  put(grant: Uint8Array, position: number, from: Uint8Array): void;
}

const doors = new Map<string, () => InProcessData>();

/** Offers a node's data to links of this process that present `token`; the result withdraws the offer. */
export function offerInProcessData(token: Buffer, open: () => InProcessData): () => void {
  const key = token.toString('hex');
  doors.set(key, open);
  return () => {
    if (doors.get(key) === open) doors.delete(key);
  };
}

/** The node behind `token`, when it serves in this process; undefined otherwise. */
export function openInProcessData(token: Buffer): InProcessData | undefined {
  return doors.get(token.toString('hex'))?.();
}
