import fc from 'fast-check';
import {
  GroupCoordinator,
  GroupCoordinatorOptions,
  JoinGroupRequest,
  JoinGroupResult,
  SetTimer,
  SyncGroupResult,
} from './group-coordinator';

/** A clock whose timers fire only when the test advances it, in deadline order. */
class FakeClock {
  private nowMs = 1_000_000;
  private seq = 0;
  private timers: { atMs: number; seq: number; fn: () => void; cancelled: boolean }[] = [];

  readonly now = (): number => this.nowMs;

  readonly setTimer: SetTimer = (fn, ms) => {
    const timer = { atMs: this.nowMs + ms, seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  };

  advance(ms: number): void {
    const endMs = this.nowMs + ms;
    for (;;) {
      const due = this.timers
        .filter((t) => !t.cancelled && t.atMs <= endMs)
        .sort((a, b) => a.atMs - b.atMs || a.seq - b.seq)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.nowMs = due.atMs;
      due.fn();
    }
    this.nowMs = endMs;
  }

  get liveTimers(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }
}

const GROUP = 'orders-consumers';
const SESSION_MS = 10_000;
const REBALANCE_MS = 30_000;

function rangeMetadata(tag: string): Buffer {
  return Buffer.from(`subscription:${tag}`);
}

function joinRequest(overrides: Partial<JoinGroupRequest> = {}): JoinGroupRequest {
  return {
    groupId: GROUP,
    memberId: '',
    clientId: 'client',
    clientHost: '/127.0.0.1',
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: rangeMetadata('x') }],
    sessionTimeoutMs: SESSION_MS,
    rebalanceTimeoutMs: REBALANCE_MS,
    ...overrides,
  };
}

function fakeCoordinator(clock: FakeClock, options: GroupCoordinatorOptions = {}): GroupCoordinator {
  return new GroupCoordinator({
    initialRebalanceDelayMs: 100,
    minSessionTimeoutMs: 0,
    now: clock.now,
    setTimer: clock.setTimer,
    ...options,
  });
}

/** Lets resolved promises run their callbacks. */
async function flush(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
}

/** Tracks whether a promise has settled yet, without awaiting it. */
function track<T>(promise: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let done = false;
  void promise.then(() => {
    done = true;
  });
  return { promise, settled: () => done };
}

/** Advances the fake clock in small steps until the promise settles (e.g. past an initial rebalance delay). */
async function drive<T>(clock: FakeClock, promise: Promise<T>, stepMs = 100): Promise<T> {
  const tracked = track(promise);
  for (let step = 0; step < 1000 && !tracked.settled(); step++) {
    clock.advance(stepMs);
    await flush();
  }
  if (!tracked.settled()) throw new Error('promise did not settle while driving the clock');
  return promise;
}

function expectJoined(result: JoinGroupResult): JoinGroupResult {
  expect(result.error).toBe('NONE');
  return result;
}

/**
 * Forms a Stable group of the given members in one generation (with the fake
 * clock driving the initial delay): returns each member's join result in order.
 */
async function formStableGroup(
  c: GroupCoordinator,
  clock: FakeClock,
  requests: Partial<JoinGroupRequest>[],
  assign: (memberId: string) => Buffer = (id) => Buffer.from(`assignment-of-${id}`),
): Promise<JoinGroupResult[]> {
  const joins = requests.map((r) => c.joinGroup(joinRequest(r)));
  const results = (await drive(clock, Promise.all(joins))).map(expectJoined);
  const leader = results.find((r) => r.members.length > 0)!;
  const syncs = results.map((r) =>
    c.syncGroup({
      groupId: GROUP,
      generationId: r.generationId,
      memberId: r.memberId,
      assignments: r === leader ? leader.members.map((m) => ({ memberId: m.memberId, assignment: assign(m.memberId) })) : [],
    }),
  );
  for (const s of await Promise.all(syncs)) expect(s.error).toBe('NONE');
  expect(c.groupState(GROUP)).toBe('Stable');
  return results;
}

describe('GroupCoordinator', () => {
  let clock: FakeClock;
  let c: GroupCoordinator;

  beforeEach(() => {
    clock = new FakeClock();
    c = fakeCoordinator(clock);
  });

  afterEach(() => {
    c.close();
  });

  test('two members join, one leader gets both member metadata, both sync and get their assignments', async () => {
    c = fakeCoordinator(clock, { initialRebalanceDelayMs: 100 });
    const a = track(c.joinGroup(joinRequest({ clientId: 'a', protocols: [{ name: 'range', metadata: rangeMetadata('a') }] })));
    const b = track(c.joinGroup(joinRequest({ clientId: 'b', protocols: [{ name: 'range', metadata: rangeMetadata('b') }] })));
    expect(c.groupState(GROUP)).toBe('PreparingRebalance');

    // b arrived during the first delay, so the delay is extended once more.
    clock.advance(100);
    await flush();
    expect(a.settled() || b.settled()).toBe(false);
    clock.advance(100);
    const [ja, jb] = [expectJoined(await a.promise), expectJoined(await b.promise)];

    expect(ja.generationId).toBe(1);
    expect(jb.generationId).toBe(1);
    expect(ja.protocolName).toBe('range');
    expect(ja.protocolType).toBe('consumer');
    expect(ja.memberId).toMatch(/^a-[0-9a-f-]{36}$/);
    expect(jb.memberId).toMatch(/^b-[0-9a-f-]{36}$/);
    expect(ja.leaderId).toBe(jb.leaderId);
    const [leader, follower] = ja.leaderId === ja.memberId ? [ja, jb] : [jb, ja];
    expect(follower.members).toEqual([]);
    expect(leader.members).toEqual([
      { memberId: ja.memberId, groupInstanceId: null, metadata: rangeMetadata('a') },
      { memberId: jb.memberId, groupInstanceId: null, metadata: rangeMetadata('b') },
    ]);
    expect(c.groupState(GROUP)).toBe('CompletingRebalance');

    // The follower's SyncGroup waits for the leader's.
    const followerSync = track(c.syncGroup({ groupId: GROUP, generationId: 1, memberId: follower.memberId, assignments: [] }));
    await flush();
    expect(followerSync.settled()).toBe(false);
    const leaderSync = await c.syncGroup({
      groupId: GROUP,
      generationId: 1,
      memberId: leader.memberId,
      assignments: [
        { memberId: leader.memberId, assignment: Buffer.from('p0') },
        { memberId: follower.memberId, assignment: Buffer.from('p1') },
      ],
    });
    expect(leaderSync).toEqual({ error: 'NONE', protocolType: 'consumer', protocolName: 'range', assignment: Buffer.from('p0') });
    expect((await followerSync.promise).assignment).toEqual(Buffer.from('p1'));
    expect(c.groupState(GROUP)).toBe('Stable');

    // A late SyncGroup in a Stable group gets the member's assignment straight away.
    expect((await c.syncGroup({ groupId: GROUP, generationId: 1, memberId: follower.memberId, assignments: [] })).assignment).toEqual(Buffer.from('p1'));
    expect(c.heartbeat({ groupId: GROUP, generationId: 1, memberId: follower.memberId })).toEqual({ error: 'NONE' });
  });

  test('the first rebalance of a new group waits for the initial rebalance delay (3 s by default)', async () => {
    c = new GroupCoordinator({ minSessionTimeoutMs: 0, now: clock.now, setTimer: clock.setTimer });
    const join = track(c.joinGroup(joinRequest()));
    clock.advance(2999);
    await flush();
    expect(join.settled()).toBe(false);
    clock.advance(1);
    expect((await join.promise).generationId).toBe(1);
  });

  test('members the leader leaves out of its assignment get an empty one', async () => {
    const [a, b] = await formStableGroup(c, clock, [{ clientId: 'a' }, { clientId: 'b' }], () => Buffer.alloc(0));
    const results = await Promise.all([a, b].map((r) => c.syncGroup({ groupId: GROUP, generationId: 1, memberId: r.memberId, assignments: [] })));
    expect(results.map((r) => r.assignment.length)).toEqual([0, 0]);
  });

  test('a member that leaves triggers a rebalance and the remaining member gets a new generation', async () => {
    const [a, b] = await formStableGroup(c, clock, [{ clientId: 'a' }, { clientId: 'b' }]);
    expect(c.leaveGroup({ groupId: GROUP, members: [{ memberId: b.memberId }] })).toEqual({
      error: 'NONE',
      members: [{ memberId: b.memberId, groupInstanceId: null, error: 'NONE' }],
    });
    expect(c.groupState(GROUP)).toBe('PreparingRebalance');
    expect(c.heartbeat({ groupId: GROUP, generationId: 1, memberId: a.memberId }).error).toBe('REBALANCE_IN_PROGRESS');
    expect(c.heartbeat({ groupId: GROUP, generationId: 1, memberId: b.memberId }).error).toBe('UNKNOWN_MEMBER_ID');

    const rejoin = expectJoined(await c.joinGroup(joinRequest({ clientId: 'a', memberId: a.memberId })));
    expect(rejoin.generationId).toBe(2);
    expect(rejoin.leaderId).toBe(a.memberId);
    expect(rejoin.members.map((m) => m.memberId)).toEqual([a.memberId]);

    // Leaving again empties the group; its generation is kept.
    c.leaveGroup({ groupId: GROUP, members: [{ memberId: a.memberId }] });
    expect(c.describeGroups([GROUP])[0].state).toBe('Empty');
  });

  test('a member that stops heartbeating is removed after its session timeout', async () => {
    const [a, b] = await formStableGroup(c, clock, [{ clientId: 'a' }, { clientId: 'b' }]);
    for (let beat = 0; beat < 3; beat++) {
      clock.advance(3000);
      expect(c.heartbeat({ groupId: GROUP, generationId: 1, memberId: a.memberId }).error).toBe('NONE');
    }
    expect(c.groupState(GROUP)).toBe('Stable');
    // b never heartbeat: once its session has passed, it is gone and a must rejoin.
    clock.advance(SESSION_MS - 9000);
    expect(c.groupState(GROUP)).toBe('PreparingRebalance');
    expect(c.heartbeat({ groupId: GROUP, generationId: 1, memberId: a.memberId }).error).toBe('REBALANCE_IN_PROGRESS');
    expect(c.heartbeat({ groupId: GROUP, generationId: 1, memberId: b.memberId }).error).toBe('UNKNOWN_MEMBER_ID');
    const rejoin = expectJoined(await c.joinGroup(joinRequest({ clientId: 'a', memberId: a.memberId })));
    expect(rejoin.generationId).toBe(2);
    expect(rejoin.members).toHaveLength(1);
  });

  test('a lone member that stops heartbeating leaves an Empty group with no timers running', async () => {
    await formStableGroup(c, clock, [{ clientId: 'a' }]);
    clock.advance(SESSION_MS);
    expect(c.groupState(GROUP)).toBe('Empty');
    expect(clock.liveTimers).toBe(0);
  });

  test('a stale generation gets ILLEGAL_GENERATION', async () => {
    const [a, b] = await formStableGroup(c, clock, [{ clientId: 'a' }, { clientId: 'b' }]);
    const leader = a.members.length > 0 ? a : b;
    // The leader rejoins (e.g. metadata changed): generation 2 forms once both rejoin.
    const joins = [c.joinGroup(joinRequest({ clientId: 'a', memberId: a.memberId })), c.joinGroup(joinRequest({ clientId: 'b', memberId: b.memberId }))];
    const [a2] = await Promise.all(joins);
    expect(a2.generationId).toBe(2);

    expect(c.heartbeat({ groupId: GROUP, generationId: 1, memberId: a.memberId }).error).toBe('ILLEGAL_GENERATION');
    expect((await c.syncGroup({ groupId: GROUP, generationId: 1, memberId: leader.memberId, assignments: [] })).error).toBe('ILLEGAL_GENERATION');
    expect(c.validateCommit(GROUP, a.memberId, 1)).toBe('ILLEGAL_GENERATION');
    expect(c.heartbeat({ groupId: GROUP, generationId: 2, memberId: a.memberId }).error).toBe('NONE');
  });

  test('a new member must first get its id when requireKnownMemberId is set (MEMBER_ID_REQUIRED)', async () => {
    const first = await c.joinGroup(joinRequest({ clientId: 'kafkajs', requireKnownMemberId: true }));
    expect(first.error).toBe('MEMBER_ID_REQUIRED');
    expect(first.memberId).toMatch(/^kafkajs-[0-9a-f-]{36}$/);
    expect(first.generationId).toBe(-1);

    const second = expectJoined(await drive(clock, c.joinGroup(joinRequest({ clientId: 'kafkajs', memberId: first.memberId, requireKnownMemberId: true }))));
    expect(second.memberId).toBe(first.memberId);
    expect(second.leaderId).toBe(first.memberId);
    expect(second.generationId).toBe(1);
  });

  test('a member id handed out with MEMBER_ID_REQUIRED but never used expires after the session timeout', async () => {
    const first = await c.joinGroup(joinRequest({ requireKnownMemberId: true }));
    expect(c.groupState(GROUP)).toBe('Empty');
    clock.advance(SESSION_MS);
    expect(c.groupState(GROUP)).toBeUndefined();
    expect((await c.joinGroup(joinRequest({ memberId: first.memberId }))).error).toBe('UNKNOWN_MEMBER_ID');
  });

  test('a pending member id holds the rebalance until it joins', async () => {
    const [a] = await formStableGroup(c, clock, [{ clientId: 'a' }]);
    const pending = await c.joinGroup(joinRequest({ clientId: 'b', requireKnownMemberId: true }));
    // The leader rejoins; the group waits for the member id it handed out.
    const leaderJoin = track(c.joinGroup(joinRequest({ clientId: 'a', memberId: a.memberId })));
    await flush();
    expect(leaderJoin.settled()).toBe(false);
    const bJoin = expectJoined(await c.joinGroup(joinRequest({ clientId: 'b', memberId: pending.memberId })));
    expect(bJoin.generationId).toBe(2);
    expect((await leaderJoin.promise).members).toHaveLength(2);
  });

  test('the group protocol is chosen by votes among the protocols every member supports', async () => {
    const p = (...names: string[]) => names.map((name) => ({ name, metadata: Buffer.from(name) }));
    c = fakeCoordinator(clock, { initialRebalanceDelayMs: 50 });
    const joins = [
      c.joinGroup(joinRequest({ clientId: 'a', protocols: p('roundrobin', 'range', 'sticky') })),
      c.joinGroup(joinRequest({ clientId: 'b', protocols: p('sticky', 'range', 'roundrobin') })),
      c.joinGroup(joinRequest({ clientId: 'c', protocols: p('range', 'roundrobin') })),
      c.joinGroup(joinRequest({ clientId: 'd', protocols: p('range', 'roundrobin', 'cooperative-sticky') })),
    ];
    clock.advance(1000);
    const results = await Promise.all(joins);
    // sticky is not supported by c and d; of the rest, range has 3 votes (b, c, d), roundrobin 1.
    expect(results.map((r) => r.protocolName)).toEqual(['range', 'range', 'range', 'range']);
    const leader = results.find((r) => r.members.length > 0)!;
    expect(leader.members.map((m) => m.metadata.toString())).toEqual(['range', 'range', 'range', 'range']);
  });

  test('a member with no protocol in common or another protocol type gets INCONSISTENT_GROUP_PROTOCOL', async () => {
    await formStableGroup(c, clock, [{ clientId: 'a', protocols: [{ name: 'range', metadata: Buffer.alloc(0) }] }]);
    const noCommonProtocol = await c.joinGroup(joinRequest({ clientId: 'b', protocols: [{ name: 'cooperative-sticky', metadata: Buffer.alloc(0) }] }));
    expect(noCommonProtocol).toMatchObject({ error: 'INCONSISTENT_GROUP_PROTOCOL', memberId: '' });
    const otherType = await c.joinGroup(joinRequest({ clientId: 'b', protocolType: 'connect' }));
    expect(otherType.error).toBe('INCONSISTENT_GROUP_PROTOCOL');
    expect((await c.joinGroup(joinRequest({ groupId: 'fresh', protocols: [] }))).error).toBe('INCONSISTENT_GROUP_PROTOCOL');
    expect((await c.joinGroup(joinRequest({ groupId: 'fresh', protocolType: '' }))).error).toBe('INCONSISTENT_GROUP_PROTOCOL');
    expect(c.groupState('fresh')).toBeUndefined();
    expect(c.groupState(GROUP)).toBe('Stable');
  });

  test('a static member that restarts rejoins a Stable group without a rebalance, and its old id is fenced (FENCED_INSTANCE_ID)', async () => {
    const [a, b] = await formStableGroup(c, clock, [
      { clientId: 'a', groupInstanceId: 'host-a' },
      { clientId: 'b', groupInstanceId: 'host-b' },
    ]);
    expect(a.leaderId).toBe(a.memberId);

    // host-a restarts: no member id, same instance id and protocols.
    const restarted = expectJoined(await c.joinGroup(joinRequest({ clientId: 'a', groupInstanceId: 'host-a' })));
    expect(restarted.memberId).toMatch(/^host-a-/);
    expect(restarted.memberId).not.toBe(a.memberId);
    expect(restarted.generationId).toBe(1);
    // Pre-v9 clients are given the old leader id so they do not run the assignor again.
    expect(restarted.leaderId).toBe(a.memberId);
    expect(restarted.members).toEqual([]);
    expect(c.groupState(GROUP)).toBe('Stable');

    const sync = await c.syncGroup({ groupId: GROUP, generationId: 1, memberId: restarted.memberId, groupInstanceId: 'host-a', assignments: [] });
    expect(sync.assignment).toEqual(Buffer.from(`assignment-of-${a.memberId}`));
    expect(c.heartbeat({ groupId: GROUP, generationId: 1, memberId: b.memberId, groupInstanceId: 'host-b' }).error).toBe('NONE');

    // The zombie with the old id is fenced.
    expect(c.heartbeat({ groupId: GROUP, generationId: 1, memberId: a.memberId, groupInstanceId: 'host-a' }).error).toBe('FENCED_INSTANCE_ID');
    expect(c.validateCommit(GROUP, a.memberId, 1, 'host-a')).toBe('FENCED_INSTANCE_ID');
    expect((await c.joinGroup(joinRequest({ memberId: a.memberId, groupInstanceId: 'host-a' }))).error).toBe('FENCED_INSTANCE_ID');
    expect(c.leaveGroup({ groupId: GROUP, members: [{ memberId: a.memberId, groupInstanceId: 'host-a' }] }).members[0].error).toBe('FENCED_INSTANCE_ID');
    expect(c.describeGroups([GROUP])[0].members.map((m) => m.memberId)).toEqual([restarted.memberId, b.memberId]);
  });

  test('a restarted static leader on JoinGroup v9+ is told it leads but may skip the assignment', async () => {
    const [a] = await formStableGroup(c, clock, [
      { clientId: 'a', groupInstanceId: 'host-a' },
      { clientId: 'b', groupInstanceId: 'host-b' },
    ]);
    const restarted = expectJoined(await c.joinGroup(joinRequest({ groupInstanceId: 'host-a', supportSkippingAssignment: true })));
    expect(restarted.leaderId).toBe(restarted.memberId);
    expect(restarted.skipAssignment).toBe(true);
    expect(restarted.members).toHaveLength(2);
    expect(restarted.generationId).toBe(a.generationId);
    expect(c.groupState(GROUP)).toBe('Stable');
  });

  test('a static member that restarts with other protocols triggers a rebalance', async () => {
    await formStableGroup(c, clock, [{ clientId: 'a', groupInstanceId: 'host-a' }]);
    const rejoin = expectJoined(
      await c.joinGroup(
        joinRequest({
          groupInstanceId: 'host-a',
          protocols: [
            { name: 'roundrobin', metadata: Buffer.alloc(0) },
            { name: 'range', metadata: Buffer.alloc(0) },
          ],
        }),
      ),
    );
    expect(rejoin.generationId).toBe(2);
    expect(rejoin.protocolName).toBe('roundrobin');
  });

  test('a static member that does not rejoin stays in the group until its session expires', async () => {
    const [a, b] = await formStableGroup(c, clock, [
      { clientId: 'a', groupInstanceId: 'host-a' },
      { clientId: 'b', groupInstanceId: 'host-b', sessionTimeoutMs: 60_000 },
    ]);
    const leader = a.leaderId === a.memberId ? a : b;
    expect(leader).toBe(a);
    const rejoin = track(c.joinGroup(joinRequest({ memberId: a.memberId, groupInstanceId: 'host-a' })));
    // The rebalance timeout passes; host-b is kept (static), so generation 2 includes it.
    clock.advance(REBALANCE_MS);
    const result = expectJoined(await rejoin.promise);
    expect(result.generationId).toBe(2);
    expect(result.members.map((m) => m.groupInstanceId)).toEqual(['host-a', 'host-b']);
  });

  test('a member that does not rejoin within the rebalance timeout is dropped', async () => {
    const [a, b] = await formStableGroup(c, clock, [{ clientId: 'a' }, { clientId: 'b', sessionTimeoutMs: 60_000 }]);
    // A third member joins; a rejoins quickly, b never does (but keeps heartbeating).
    const newcomer = track(c.joinGroup(joinRequest({ clientId: 'c' })));
    const aRejoin = track(c.joinGroup(joinRequest({ clientId: 'a', memberId: a.memberId })));
    clock.advance(REBALANCE_MS - 1);
    expect(c.heartbeat({ groupId: GROUP, generationId: 1, memberId: b.memberId }).error).toBe('REBALANCE_IN_PROGRESS');
    await flush();
    expect(newcomer.settled()).toBe(false);
    clock.advance(1);
    const [cJoin, aJoin] = [expectJoined(await newcomer.promise), expectJoined(await aRejoin.promise)];
    expect(aJoin.generationId).toBe(2);
    const leader = [cJoin, aJoin].find((r) => r.members.length > 0)!;
    expect(leader.members.map((m) => m.memberId).sort()).toEqual([aJoin.memberId, cJoin.memberId].sort());
    expect(c.heartbeat({ groupId: GROUP, generationId: 2, memberId: b.memberId }).error).toBe('UNKNOWN_MEMBER_ID');
  });

  test('a member that never sends SyncGroup is removed after the rebalance timeout', async () => {
    c = fakeCoordinator(clock, { initialRebalanceDelayMs: 10 });
    const joins = [c.joinGroup(joinRequest({ clientId: 'a', sessionTimeoutMs: 60_000 })), c.joinGroup(joinRequest({ clientId: 'b', sessionTimeoutMs: 60_000 }))];
    clock.advance(100);
    const [a, b] = await Promise.all(joins);
    const leader = a.members.length > 0 ? a : b;
    const follower = leader === a ? b : a;
    await c.syncGroup({ groupId: GROUP, generationId: 1, memberId: leader.memberId, assignments: [] });
    clock.advance(REBALANCE_MS);
    expect(c.groupState(GROUP)).toBe('PreparingRebalance');
    expect(c.heartbeat({ groupId: GROUP, generationId: 1, memberId: follower.memberId }).error).toBe('UNKNOWN_MEMBER_ID');
  });

  test('a new member arriving during CompletingRebalance sends parked SyncGroups back with REBALANCE_IN_PROGRESS', async () => {
    c = fakeCoordinator(clock, { initialRebalanceDelayMs: 10 });
    const joins = [c.joinGroup(joinRequest({ clientId: 'a' })), c.joinGroup(joinRequest({ clientId: 'b' }))];
    clock.advance(100);
    const [a, b] = await Promise.all(joins);
    const follower = a.members.length > 0 ? b : a;
    const parked = c.syncGroup({ groupId: GROUP, generationId: 1, memberId: follower.memberId, assignments: [] });
    const newcomer = c.joinGroup(joinRequest({ clientId: 'c' }));
    expect(await parked).toMatchObject({ error: 'REBALANCE_IN_PROGRESS', assignment: Buffer.alloc(0) });
    expect((await c.syncGroup({ groupId: GROUP, generationId: 1, memberId: follower.memberId, assignments: [] })).error).toBe('REBALANCE_IN_PROGRESS');
    expect(c.validateCommit(GROUP, follower.memberId, 1)).toBeNull(); // commits of the old generation are allowed while rebalancing
    await Promise.all([
      c.joinGroup(joinRequest({ clientId: 'a', memberId: a.memberId })),
      c.joinGroup(joinRequest({ clientId: 'b', memberId: b.memberId })),
    ]);
    expect((await newcomer).generationId).toBe(2);
  });

  test('a follower rejoining a Stable group with the same metadata gets the current generation; the leader rejoining starts a rebalance', async () => {
    const [a, b] = await formStableGroup(c, clock, [{ clientId: 'a' }, { clientId: 'b' }]);
    const follower = expectJoined(await c.joinGroup(joinRequest({ clientId: 'b', memberId: b.memberId })));
    expect(follower).toMatchObject({ generationId: 1, leaderId: a.memberId, members: [] });
    expect(c.groupState(GROUP)).toBe('Stable');

    const leaderRejoin = track(c.joinGroup(joinRequest({ clientId: 'a', memberId: a.memberId })));
    expect(c.groupState(GROUP)).toBe('PreparingRebalance');
    await flush();
    expect(leaderRejoin.settled()).toBe(false);
    void c.joinGroup(joinRequest({ clientId: 'b', memberId: b.memberId }));
    expect((await leaderRejoin.promise).generationId).toBe(2);
  });

  test('deleting a group that has members fails with NON_EMPTY_GROUP; an Empty one is deleted', async () => {
    const [a] = await formStableGroup(c, clock, [{ clientId: 'a' }]);
    expect(c.deleteGroups([GROUP, 'never-seen', ''])).toEqual([
      { groupId: GROUP, error: 'NON_EMPTY_GROUP' },
      { groupId: 'never-seen', error: 'GROUP_ID_NOT_FOUND' },
      { groupId: '', error: 'GROUP_ID_NOT_FOUND' },
    ]);
    c.leaveGroup({ groupId: GROUP, members: [{ memberId: a.memberId }] });
    expect(c.deleteGroups([GROUP, GROUP])).toEqual([{ groupId: GROUP, error: 'NONE' }]);
    expect(c.describeGroups([GROUP])).toEqual([{ groupId: GROUP, error: 'NONE', state: 'Dead', protocolType: '', protocolData: '', members: [] }]);
    expect(c.listGroups().groups).toEqual([]);
  });

  test('DescribeGroups shows metadata and assignments only while Stable; ListGroups filters by state', async () => {
    const [a] = await formStableGroup(c, clock, [{ clientId: 'a', protocols: [{ name: 'range', metadata: Buffer.from('sub') }] }], () => Buffer.from('asg'));
    void c.joinGroup(joinRequest({ groupId: 'other', clientId: 'z' }));
    clock.advance(100); // past the initial delay: CompletingRebalance until z syncs
    expect(c.describeGroups([GROUP])).toEqual([
      {
        groupId: GROUP,
        error: 'NONE',
        state: 'Stable',
        protocolType: 'consumer',
        protocolData: 'range',
        members: [{ memberId: a.memberId, groupInstanceId: null, clientId: 'a', clientHost: '/127.0.0.1', metadata: Buffer.from('sub'), assignment: Buffer.from('asg') }],
      },
    ]);
    const [other] = c.describeGroups(['other']);
    expect(other).toMatchObject({ state: 'CompletingRebalance', protocolData: '' });
    expect(other.members[0].metadata).toEqual(Buffer.alloc(0));

    expect(c.listGroups()).toEqual({
      error: 'NONE',
      groups: [
        { groupId: GROUP, protocolType: 'consumer', state: 'Stable' },
        { groupId: 'other', protocolType: 'consumer', state: 'CompletingRebalance' },
      ],
    });
    expect(c.listGroups(['stable']).groups.map((g) => g.groupId)).toEqual([GROUP]);
    expect(c.listGroups(['Empty']).groups).toEqual([]);
  });

  test('LeaveGroup v3+ removes a batch, static members by instance id alone, and reports each member', async () => {
    const [a, b, d] = await formStableGroup(c, clock, [
      { clientId: 'a' },
      { clientId: 'b', groupInstanceId: 'host-b' },
      { clientId: 'd' },
    ]);
    const result = c.leaveGroup({
      groupId: GROUP,
      members: [
        { memberId: '', groupInstanceId: 'host-b', reason: 'scaling down' },
        { memberId: d.memberId },
        { memberId: 'nobody' },
        { memberId: '', groupInstanceId: 'host-unknown' },
      ],
    });
    expect(result).toEqual({
      error: 'NONE',
      members: [
        { memberId: '', groupInstanceId: 'host-b', error: 'NONE' },
        { memberId: d.memberId, groupInstanceId: null, error: 'NONE' },
        { memberId: 'nobody', groupInstanceId: null, error: 'UNKNOWN_MEMBER_ID' },
        { memberId: '', groupInstanceId: 'host-unknown', error: 'UNKNOWN_MEMBER_ID' },
      ],
    });
    expect(c.describeGroups([GROUP])[0].members.map((m) => m.memberId)).toEqual([a.memberId]);
    expect(b.memberId).toMatch(/^host-b-/);
    expect(c.leaveGroup({ groupId: 'unknown-group', members: [{ memberId: 'x' }] }).members[0].error).toBe('UNKNOWN_MEMBER_ID');
  });

  test('validateCommit allows members of the current generation and simple commits only to a group without members', async () => {
    // No group yet: a simple (generation -1) commit is fine, a group-managed one is stale.
    expect(c.validateCommit(GROUP, '', -1)).toBeNull();
    expect(c.validateCommit(GROUP, 'someone', 3)).toBe('ILLEGAL_GENERATION');

    const [a] = await formStableGroup(c, clock, [{ clientId: 'a' }]);
    expect(c.validateCommit(GROUP, a.memberId, 1)).toBeNull();
    expect(c.validateCommit(GROUP, '', -1)).toBe('UNKNOWN_MEMBER_ID');
    expect(c.validateCommit(GROUP, '', -1, null, true)).toBeNull(); // old TxnOffsetCommit versions carry no member
    expect(c.validateCommit(GROUP, 'stranger', 1)).toBe('UNKNOWN_MEMBER_ID');
    expect(c.validateCommit(GROUP, a.memberId, 0)).toBe('ILLEGAL_GENERATION');
    expect(c.validateCommit('x'.repeat(256), '', -1)).toBe('INVALID_GROUP_ID');

    // A commit counts as a heartbeat.
    clock.advance(SESSION_MS - 1);
    expect(c.validateCommit(GROUP, a.memberId, 1)).toBeNull();
    clock.advance(SESSION_MS - 1);
    expect(c.groupState(GROUP)).toBe('Stable');

    // Between JoinGroup and SyncGroup the member has no assignment to commit for.
    const rejoin = await c.joinGroup(joinRequest({ clientId: 'a', memberId: a.memberId }));
    expect(c.groupState(GROUP)).toBe('CompletingRebalance');
    expect(c.validateCommit(GROUP, a.memberId, rejoin.generationId)).toBe('REBALANCE_IN_PROGRESS');

    c.leaveGroup({ groupId: GROUP, members: [{ memberId: a.memberId }] });
    expect(c.groupState(GROUP)).toBe('Empty');
    expect(c.validateCommit(GROUP, '', -1)).toBeNull();
    expect(c.validateCommit(GROUP, a.memberId, 2)).toBe('UNKNOWN_MEMBER_ID');
  });

  test('close answers parked JoinGroup and SyncGroup with COORDINATOR_NOT_AVAILABLE and cancels every timer', async () => {
    c = fakeCoordinator(clock, { initialRebalanceDelayMs: 10 });
    const [a, b] = await (async () => {
      const joins = [c.joinGroup(joinRequest({ clientId: 'a' })), c.joinGroup(joinRequest({ clientId: 'b' }))];
      clock.advance(100);
      return Promise.all(joins);
    })();
    const follower = a.members.length > 0 ? b : a;
    const parkedSync = c.syncGroup({ groupId: GROUP, generationId: 1, memberId: follower.memberId, assignments: [] });
    const parkedJoin = c.joinGroup(joinRequest({ groupId: 'second', clientId: 'x' }));
    c.close();
    expect((await parkedSync).error).toBe('COORDINATOR_NOT_AVAILABLE');
    expect((await parkedJoin).error).toBe('COORDINATOR_NOT_AVAILABLE');
    expect(clock.liveTimers).toBe(0);
    expect((await c.joinGroup(joinRequest())).error).toBe('COORDINATOR_NOT_AVAILABLE');
    expect(c.heartbeat({ groupId: GROUP, generationId: 1, memberId: a.memberId }).error).toBe('COORDINATOR_NOT_AVAILABLE');
    expect(c.listGroups().error).toBe('COORDINATOR_NOT_AVAILABLE');
    expect(c.validateCommit(GROUP, '', -1)).toBe('COORDINATOR_NOT_AVAILABLE');
  });

  test('bad requests get clear errors: group id, session timeout, unknown member, group size', async () => {
    c = fakeCoordinator(clock, { minSessionTimeoutMs: 6000, maxSessionTimeoutMs: 60_000, maxMembersPerGroup: 2 });
    expect((await c.joinGroup(joinRequest({ groupId: '' }))).error).toBe('INVALID_GROUP_ID');
    expect((await c.joinGroup(joinRequest({ groupId: 'g'.repeat(256) }))).error).toBe('INVALID_GROUP_ID');
    expect((await c.joinGroup(joinRequest({ sessionTimeoutMs: 5999 }))).error).toBe('INVALID_SESSION_TIMEOUT');
    expect((await c.joinGroup(joinRequest({ sessionTimeoutMs: 60_001 }))).error).toBe('INVALID_SESSION_TIMEOUT');
    expect((await c.joinGroup(joinRequest({ memberId: 'made-up' }))).error).toBe('UNKNOWN_MEMBER_ID');
    expect((await c.syncGroup({ groupId: GROUP, generationId: 1, memberId: 'made-up', assignments: [] })).error).toBe('UNKNOWN_MEMBER_ID');
    expect(c.heartbeat({ groupId: '', generationId: 1, memberId: 'x' }).error).toBe('INVALID_GROUP_ID');
    expect(c.groupCount).toBe(0);

    await formStableGroup(c, clock, [{ clientId: 'a' }, { clientId: 'b' }]);
    expect(await c.joinGroup(joinRequest({ clientId: 'c' }))).toMatchObject({ error: 'GROUP_MAX_SIZE_REACHED', memberId: '' });
    expect((await c.joinGroup(joinRequest({ clientId: 'c', requireKnownMemberId: true }))).error).toBe('GROUP_MAX_SIZE_REACHED');
    expect(c.groupState(GROUP)).toBe('Stable');
  });

  test('a restarting static member is let back into a full group', async () => {
    c = fakeCoordinator(clock, { maxMembersPerGroup: 2 });
    await formStableGroup(c, clock, [
      { clientId: 'a', groupInstanceId: 'host-a' },
      { clientId: 'b', groupInstanceId: 'host-b' },
    ]);
    expect((await c.joinGroup(joinRequest({ clientId: 'c', groupInstanceId: 'host-c' }))).error).toBe('GROUP_MAX_SIZE_REACHED');
    expect((await c.joinGroup(joinRequest({ clientId: 'b', groupInstanceId: 'host-b' }))).error).toBe('NONE');
    expect(c.describeGroups([GROUP])[0].members).toHaveLength(2);
  });

  test('a generation never forms above the size bound: a static member that did not rejoin makes room for one that did', async () => {
    c = fakeCoordinator(clock, { maxMembersPerGroup: 2 });
    const [a, b] = await formStableGroup(c, clock, [
      { clientId: 'a', groupInstanceId: 'host-a', sessionTimeoutMs: 60_000 },
      { clientId: 'b', groupInstanceId: 'host-b', sessionTimeoutMs: 60_000 },
    ]);
    // The leader rejoins, so the group prepares a rebalance; a newcomer fits among those rejoining.
    const aRejoin = c.joinGroup(joinRequest({ memberId: a.memberId, groupInstanceId: 'host-a', sessionTimeoutMs: 60_000 }));
    const newcomer = c.joinGroup(joinRequest({ clientId: 'c' }));
    clock.advance(REBALANCE_MS);
    const [a2, c2] = await Promise.all([aRejoin, newcomer]);
    expect(c2.error).toBe('NONE');
    expect(a2.members.map((m) => m.memberId)).toEqual([a.memberId, c2.memberId]);
    expect(c.heartbeat({ groupId: GROUP, generationId: 2, memberId: b.memberId, groupInstanceId: 'host-b' }).error).toBe('UNKNOWN_MEMBER_ID');
  });

  test('when the group table is full, the longest-Empty group makes room; with no Empty group a join is refused', async () => {
    c = fakeCoordinator(clock, { maxGroups: 2 });
    const first = await drive(clock, c.joinGroup(joinRequest({ groupId: 'first' })));
    c.leaveGroup({ groupId: 'first', members: [{ memberId: first.memberId }] });
    void c.joinGroup(joinRequest({ groupId: 'second' }));
    expect(c.groupState('first')).toBe('Empty');
    expect((await drive(clock, c.joinGroup(joinRequest({ groupId: 'third' })))).error).toBe('NONE');
    expect(c.groupState('first')).toBeUndefined();
    expect((await c.joinGroup(joinRequest({ groupId: 'fourth' }))).error).toBe('COORDINATOR_NOT_AVAILABLE');
    expect(c.groupCount).toBe(2);
  });

  test('a duplicate parked JoinGroup answers the one it replaces instead of dropping it', async () => {
    c = fakeCoordinator(clock, { initialRebalanceDelayMs: 10 });
    const joins = [c.joinGroup(joinRequest({ clientId: 'a' })), c.joinGroup(joinRequest({ clientId: 'b' }))];
    clock.advance(100);
    const [a, b] = await Promise.all(joins);
    const first = c.joinGroup(joinRequest({ memberId: a.memberId, protocols: [{ name: 'range', metadata: Buffer.from('changed') }] }));
    const retry = track(c.joinGroup(joinRequest({ memberId: a.memberId, protocols: [{ name: 'range', metadata: Buffer.from('changed') }] })));
    expect((await first).error).toBe('REBALANCE_IN_PROGRESS');
    void c.joinGroup(joinRequest({ memberId: b.memberId }));
    expect((await retry.promise).generationId).toBe(2);
  });

  test('with the real clock, two members form a group and a silent one is dropped after its session timeout', async () => {
    const real = new GroupCoordinator({ initialRebalanceDelayMs: 20, minSessionTimeoutMs: 0 });
    try {
      const joins = [
        real.joinGroup(joinRequest({ clientId: 'a', sessionTimeoutMs: 150, rebalanceTimeoutMs: 1000 })),
        real.joinGroup(joinRequest({ clientId: 'b', sessionTimeoutMs: 150, rebalanceTimeoutMs: 1000 })),
      ];
      const [a, b] = await Promise.all(joins);
      expect(a.generationId).toBe(1);
      const leader = a.members.length > 0 ? a : b;
      const syncs = await Promise.all(
        [a, b].map((r) =>
          real.syncGroup({
            groupId: GROUP,
            generationId: 1,
            memberId: r.memberId,
            assignments: r === leader ? [a, b].map((m) => ({ memberId: m.memberId, assignment: Buffer.from(m.memberId) })) : [],
          }),
        ),
      );
      expect(syncs.map((s: SyncGroupResult) => s.assignment.toString())).toEqual([a.memberId, b.memberId]);

      // a heartbeats every 50 ms, b is silent.
      let aError = 'NONE';
      const deadline = Date.now() + 2000;
      while (aError === 'NONE' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        aError = real.heartbeat({ groupId: GROUP, generationId: 1, memberId: a.memberId }).error;
      }
      expect(aError).toBe('REBALANCE_IN_PROGRESS');
      const rejoin = await real.joinGroup(joinRequest({ clientId: 'a', memberId: a.memberId, sessionTimeoutMs: 150, rebalanceTimeoutMs: 1000 }));
      expect(rejoin.generationId).toBe(2);
      expect(rejoin.members.map((m) => m.memberId)).toEqual([a.memberId]);
    } finally {
      real.close();
    }
  });

  test('any sequence of requests and clock ticks keeps the group consistent, and close answers everything still parked', async () => {
    type Op =
      | { kind: 'join'; who: number; known: boolean; isStatic: boolean; protocol: number; requireId: boolean }
      | { kind: 'sync'; who: number; staleBy: number }
      | { kind: 'heartbeat'; who: number }
      | { kind: 'leave'; who: number }
      | { kind: 'commit'; who: number }
      | { kind: 'delete' }
      | { kind: 'advance'; ms: number };
    const who = fc.integer({ min: 0, max: 5 });
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('join' as const), who, known: fc.boolean(), isStatic: fc.boolean(), protocol: fc.integer({ min: 0, max: 2 }), requireId: fc.boolean() }),
      fc.record({ kind: fc.constant('sync' as const), who, staleBy: fc.integer({ min: 0, max: 1 }) }),
      fc.record({ kind: fc.constant('heartbeat' as const), who }),
      fc.record({ kind: fc.constant('leave' as const), who }),
      fc.record({ kind: fc.constant('commit' as const), who }),
      fc.record({ kind: fc.constant('delete' as const) }),
      fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 5000 }) }),
    );
    const protocolSets = [['range'], ['roundrobin', 'range'], ['sticky']];

    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 120 }), async (ops) => {
        const clock = new FakeClock();
        const c = fakeCoordinator(clock, { maxMembersPerGroup: 3 });
        const memberIds: string[] = ['', '', '', '', '', ''];
        const generations: number[] = [-1, -1, -1, -1, -1, -1];
        const parked: Promise<unknown>[] = [];
        const remember = (i: number, r: JoinGroupResult) => {
          if (r.error === 'NONE' || r.error === 'MEMBER_ID_REQUIRED') memberIds[i] = r.memberId;
          if (r.error === 'NONE') generations[i] = r.generationId;
          if (r.error === 'UNKNOWN_MEMBER_ID' || r.error === 'FENCED_INSTANCE_ID') memberIds[i] = '';
        };
        for (const o of ops) {
          switch (o.kind) {
            case 'join': {
              const p = c.joinGroup(
                joinRequest({
                  clientId: `c${o.who}`,
                  memberId: o.known ? memberIds[o.who] : '',
                  groupInstanceId: o.isStatic ? `host-${o.who}` : null,
                  requireKnownMemberId: o.requireId,
                  protocols: protocolSets[o.protocol].map((name) => ({ name, metadata: Buffer.from(name) })),
                }),
              );
              parked.push(p.then((r) => remember(o.who, r)));
              break;
            }
            case 'sync':
              parked.push(
                c.syncGroup({
                  groupId: GROUP,
                  generationId: generations[o.who] - o.staleBy,
                  memberId: memberIds[o.who],
                  assignments: memberIds.map((memberId) => ({ memberId, assignment: Buffer.from('a') })),
                }),
              );
              break;
            case 'heartbeat':
              c.heartbeat({ groupId: GROUP, generationId: generations[o.who], memberId: memberIds[o.who] });
              break;
            case 'leave':
              c.leaveGroup({ groupId: GROUP, members: [{ memberId: memberIds[o.who] }] });
              break;
            case 'commit':
              c.validateCommit(GROUP, memberIds[o.who], generations[o.who]);
              break;
            case 'delete':
              c.deleteGroups([GROUP]);
              break;
            case 'advance':
              clock.advance(o.ms);
              break;
          }
          await flush();
          const [group] = c.describeGroups([GROUP]);
          // Old members that have not rejoined yet may overlap new ones only while the group prepares.
          expect(group.members.length).toBeLessThanOrEqual(group.state === 'PreparingRebalance' ? 6 : 3);
          if (group.state === 'Empty' || group.state === 'Dead') expect(group.members).toEqual([]);
          // A rebalance may briefly have no members (all left while an issued member id is pending).
          else if (group.state !== 'PreparingRebalance') expect(group.members.length).toBeGreaterThan(0);
        }
        c.close();
        await Promise.all(parked);
        expect(clock.liveTimers).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});
