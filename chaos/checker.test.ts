// Each check is shown failing on a crafted history that holds exactly that
// anomaly, and a clean history (with the allowed indeterminate outcomes) passes.
import { AnomalyKind, check, FinalRead, PartitionRead, StoredBatch } from './checker';
import type { Op } from './history';

let clock = 0;
const t = (): number => ++clock;

const invoke = (value: string, partition = 0, door: 'kafka' | 'sdk' = 'sdk'): Op => ({ f: 'send', type: 'invoke', door, process: `${door}-p`, value, partition, timeMs: t() });
const ok = (value: string, offset: number, partition = 0, door: 'kafka' | 'sdk' = 'sdk'): Op => ({ f: 'send', type: 'ok', door, process: `${door}-p`, value, partition, offset, timeMs: t() });
const failed = (value: string, partition = 0): Op => ({ f: 'send', type: 'fail', door: 'sdk', process: 'sdk-p', value, partition, error: 'timeout', timeMs: t() });
const acked = (value: string, offset: number, partition = 0): Op[] => [invoke(value, partition), ok(value, offset, partition)];
const session = (session: string, group = 'g', process = 'c1'): Op => ({ f: 'session', process, group, session, partitions: [0], timeMs: t() });
const read = (offset: number, value: string, session = 's1', group = 'g', process = 'c1'): Op => ({ f: 'read', door: 'kafka', process, group, session, partition: 0, offset, value, timeMs: t() });
const commit = (offset: number, type: 'invoke' | 'ok' = 'invoke', group = 'g'): Op => ({ f: 'commit', type, process: 'c1', group, partition: 0, offset, timeMs: t() });

/** A partition read of `values` at offsets 0.., each in its own data batch. */
function partition(values: (string | null)[], extra: Partial<PartitionRead> = {}): PartitionRead {
  const records = values.flatMap((value, offset) => (value === null ? [] : [{ offset, value }]));
  const batches: StoredBatch[] = values.map((value, offset) => ({ first: offset, last: offset, kind: value === null ? 'skip-marker' : 'data' }));
  return { partition: 0, complete: true, logStartOffset: 0, highWatermark: values.length, records, batches, ...extra };
}
const sdk = (p: PartitionRead): FinalRead => ({ door: 'sdk', partitions: [p] });
const kafka = (p: PartitionRead): FinalRead => ({ door: 'kafka', partitions: [{ ...p, batches: undefined }] });

function kinds(ops: Op[], reads: FinalRead[]): AnomalyKind[] {
  const result = check(ops, reads);
  return Object.entries(result.counts)
    .filter(([, n]) => n > 0)
    .map(([k]) => k as AnomalyKind);
}

describe('chaos checker', () => {
  const clean = (): { ops: Op[]; reads: FinalRead[] } => {
    const ops = [
      ...acked('a', 0),
      ...acked('b', 1),
      invoke('c'),
      failed('c'), // failed but visible: indeterminate, fine
      invoke('d'), // never answered and never stored: fine
      ...acked('e', 4),
      session('s1'),
      read(0, 'a'),
      read(1, 'b'),
      commit(2),
      commit(2, 'ok'),
      session('s2'),
      read(2, 'c'),
      read(4, 'e'), // offset 3 is a skip marker
    ];
    const p = partition(['a', 'b', 'c', null, 'e']);
    return { ops, reads: [sdk(p), kafka(p)] };
  };

  it('passes a history with only allowed outcomes, and counts failed sends that became visible', () => {
    const { ops, reads } = clean();
    const result = check(ops, reads);
    expect(result.anomalies).toEqual([]);
    expect(result.valid).toBe(true);
    expect(result.stats).toMatchObject({ sends: 5, acked: 3, failed: 1, indeterminate: 1, failedVisible: 1, indeterminateVisible: 0, skipMarkers: 1, storedRecords: 4 });
  });

  it('finds an acknowledged value missing at the end (lost)', () => {
    const ops = [...acked('a', 0), ...acked('b', 1)];
    expect(kinds(ops, [sdk(partition(['a', null]))])).toEqual(['lost']);
  });

  it('finds a value read by a consumer that is gone at the end (lost), though its send failed', () => {
    const ops = [invoke('a'), failed('a'), session('s1'), read(0, 'a')];
    expect(kinds(ops, [sdk(partition([null]))])).toEqual(['lost']);
  });

  it('finds an acknowledged value the Kafka door does not return though the SDK does (lost)', () => {
    const ops = [...acked('a', 0), ...acked('b', 1)];
    expect(kinds(ops, [sdk(partition(['a', 'b'])), kafka(partition(['a', null]))])).toEqual(['lost']);
  });

  it('does not call a value lost when its partition could not be read to the end, but says it is unreadable', () => {
    const ops = [...acked('a', 0), ...acked('b', 1)];
    expect(kinds(ops, [sdk(partition(['a'], { complete: false, highWatermark: 2 }))])).toEqual(['unreadable']);
  });

  it('finds a value stored twice (duplicate), even when its send was never acknowledged', () => {
    const ops = [invoke('a'), failed('a')];
    expect(kinds(ops, [sdk(partition(['a', 'a']))])).toEqual(['duplicate']);
  });

  it('finds one offset with two values between an ack and the log', () => {
    const ops = [...acked('a', 0), invoke('b'), failed('b')];
    expect(kinds(ops, [sdk(partition(['b', 'a']))])).toEqual(['offset-two-values', 'ack-mismatch']);
  });

  it('finds one offset with two values between a consumer and the final read', () => {
    const ops = [...acked('a', 0), invoke('b'), session('s1'), read(0, 'b')];
    expect(kinds(ops, [sdk(partition(['a']))])).toEqual(['lost', 'offset-two-values']);
  });

  it('finds one offset with two values between the two doors', () => {
    const ops = [invoke('a'), invoke('b')];
    expect(kinds(ops, [sdk(partition(['a'])), kafka(partition(['b']))])).toEqual(['offset-two-values']);
  });

  it('finds batches that overlap (an offset handed out twice)', () => {
    const ops = [...acked('a', 0), ...acked('b', 1)];
    const p = partition(['a', 'b']);
    p.batches = [{ first: 0, last: 1, kind: 'data' }, { first: 1, last: 1, kind: 'data' }];
    expect(kinds(ops, [sdk(p)])).toEqual(['offset-two-values']);
  });

  it('finds offsets in no batch and no skip marker (unmarked gap), inside the log and below the high watermark', () => {
    const ops = [...acked('a', 0), ...acked('c', 2)];
    const inside = partition(['a', null, 'c']);
    inside.batches = inside.batches!.filter((b) => b.kind === 'data');
    expect(kinds(ops, [sdk(inside)])).toEqual(['unmarked-gap']);
    const tail = partition(['a', null, 'c'], { highWatermark: 5 });
    expect(check(ops, [sdk(tail)]).anomalies).toEqual([expect.objectContaining({ kind: 'unmarked-gap', offset: 3 })]);
  });

  it('finds a consumer going backwards within one session, and allows it across sessions', () => {
    const ops = [...acked('a', 0), ...acked('b', 1), session('s1'), read(0, 'a'), read(1, 'b'), read(0, 'a')];
    expect(kinds(ops, [sdk(partition(['a', 'b']))])).toEqual(['backwards']);
    const across = [...acked('a', 0), ...acked('b', 1), session('s1'), read(0, 'a'), read(1, 'b'), session('s2'), read(0, 'a', 's2')];
    expect(kinds(across, [sdk(partition(['a', 'b']))])).toEqual([]);
  });

  it('finds a consumer skipping a stored record within a session, but not a skip marker', () => {
    const ops = [...acked('a', 0), ...acked('b', 1), ...acked('c', 2), session('s1'), read(0, 'a'), read(2, 'c')];
    expect(kinds(ops, [sdk(partition(['a', 'b', 'c']))])).toEqual(['poll-skip']);
    const overMarker = [...acked('a', 0), ...acked('c', 2), session('s1'), read(0, 'a'), read(2, 'c')];
    expect(kinds(overMarker, [sdk(partition(['a', null, 'c']))])).toEqual([]);
  });

  it("finds a group member resuming after its group's last commit", () => {
    const log = partition(['a', 'b', 'c', 'd']);
    const base = [...acked('a', 0), ...acked('b', 1), ...acked('c', 2), ...acked('d', 3), session('s1'), read(0, 'a'), commit(1), commit(1, 'ok')];
    expect(kinds([...base, session('s2', 'g', 'c2'), read(2, 'c', 's2', 'g', 'c2')], [sdk(log)])).toEqual(['resumed-after-commit']);
    // At the commit, or before it (a redelivery), is allowed; so is resuming at a commit never acknowledged.
    expect(kinds([...base, session('s2', 'g', 'c2'), read(1, 'b', 's2', 'g', 'c2')], [sdk(log)])).toEqual([]);
    expect(kinds([...base, session('s2', 'g', 'c2'), read(0, 'a', 's2', 'g', 'c2')], [sdk(log)])).toEqual([]);
    expect(kinds([...base, commit(3), session('s2', 'g', 'c2'), read(3, 'd', 's2', 'g', 'c2')], [sdk(log)])).toEqual([]);
  });

  it('finds a group that starts past the first record when nothing was committed', () => {
    const ops = [...acked('a', 0), ...acked('b', 1), session('s1'), read(1, 'b')];
    expect(kinds(ops, [sdk(partition(['a', 'b']))])).toEqual(['resumed-after-commit']);
  });

  it('finds a stored value that no one sent to that partition (phantom)', () => {
    const ops = [...acked('a', 0)];
    expect(kinds(ops, [sdk(partition(['a', 'zzz']))])).toEqual(['phantom']);
  });
});
