// Retention planner: restic `forget` semantics per host, calendar buckets in UTC.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  describeRetentionPolicy,
  isoWeek,
  parseRetentionPolicy,
  planRetention,
  type RetentionDecision,
  type RetentionPolicy,
  type SnapshotRef,
} from '../../src/backup/retention.js';
import { FleetError, UsageError } from '../../src/errors.js';

const DAY = 86_400_000;

function snap(time: string, host = 'a.ipa.test', id?: string): SnapshotRef {
  return { id: id ?? `${time}-${host}`, host, time };
}

/** One snapshot per day at 02:00Z from `from` (inclusive) to `to` (inclusive). */
function daily(from: string, to: string, host = 'a.ipa.test', hour = '02:00:00'): SnapshotRef[] {
  const out: SnapshotRef[] = [];
  for (let t = Date.parse(`${from}T${hour}Z`); t <= Date.parse(`${to}T${hour}Z`); t += DAY) {
    out.push(snap(new Date(t).toISOString().replace('.000Z', 'Z'), host));
  }
  return out;
}

/** Kept snapshots as [time, reasons], in plan order (newest first). */
function kept(decisions: RetentionDecision[]): Array<[string, string[]]> {
  return decisions.filter((d) => d.keep).map((d) => [d.time, d.reasons]);
}

const keptTimes = (decisions: RetentionDecision[]): string[] => decisions.filter((d) => d.keep).map((d) => d.time);

function usage(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UsageError, `expected UsageError, got ${String(err)}`);
    assert.equal(err.kind, 'usage');
    assert.match(err.message, pattern);
    return true;
  });
}

describe('planRetention: daily', () => {
  it('30 daily snapshots with --keep-daily 7 keep the newest 7', () => {
    const snaps = daily('2025-03-01', '2025-03-30');
    assert.equal(snaps.length, 30);
    const plan = planRetention(snaps, { daily: 7 });
    assert.equal(plan.length, 30);
    assert.deepEqual(
      keptTimes(plan),
      [30, 29, 28, 27, 26, 25, 24].map((d) => `2025-03-${d}T02:00:00Z`),
    );
    for (const d of plan.filter((x) => x.keep)) assert.deepEqual(d.reasons, ['daily snapshot']);
    for (const d of plan.filter((x) => !x.keep)) assert.deepEqual(d.reasons, []);
    // newest first throughout
    assert.deepEqual(
      plan.map((d) => d.time),
      [...snaps].reverse().map((s) => s.time),
    );
  });

  it('several snapshots a day: only the newest of each day counts as daily', () => {
    const snaps = [
      snap('2025-03-12T05:00:00Z'),
      snap('2025-03-11T08:00:00Z'),
      snap('2025-03-11T20:00:00Z'),
      snap('2025-03-10T01:00:00Z'),
      snap('2025-03-10T09:00:00Z'),
      snap('2025-03-10T23:30:00Z'),
      snap('2025-03-09T12:00:00Z'),
    ];
    assert.deepEqual(kept(planRetention(snaps, { daily: 3 })), [
      ['2025-03-12T05:00:00Z', ['daily snapshot']],
      ['2025-03-11T20:00:00Z', ['daily snapshot']],
      ['2025-03-10T23:30:00Z', ['daily snapshot']],
    ]);
  });

  it('a rule with budget left also keeps the host\'s oldest snapshot (restic ≥ 0.16 "oldest …")', () => {
    const snaps = [
      snap('2025-03-11T08:00:00Z'),
      snap('2025-03-11T20:00:00Z'),
      snap('2025-03-10T01:00:00Z'),
      snap('2025-03-10T09:00:00Z'),
    ];
    assert.deepEqual(kept(planRetention(snaps, { daily: 7 })), [
      ['2025-03-11T20:00:00Z', ['daily snapshot']],
      ['2025-03-10T09:00:00Z', ['daily snapshot']],
      ['2025-03-10T01:00:00Z', ['oldest daily snapshot']],
    ]);
    // oldest in a bucket of its own: an ordinary daily snapshot
    assert.deepEqual(kept(planRetention([snap('2025-03-11T08:00:00Z'), snap('2025-03-09T08:00:00Z')], { daily: 7 })), [
      ['2025-03-11T08:00:00Z', ['daily snapshot']],
      ['2025-03-09T08:00:00Z', ['daily snapshot']],
    ]);
  });

  it('days without a snapshot are not counted', () => {
    const snaps = [
      snap('2025-01-01T10:00:00Z'),
      snap('2025-02-01T10:00:00Z'),
      snap('2025-03-01T10:00:00Z'),
      snap('2025-03-02T10:00:00Z'),
    ];
    assert.deepEqual(keptTimes(planRetention(snaps, { daily: 2 })), ['2025-03-02T10:00:00Z', '2025-03-01T10:00:00Z']);
  });

  it('days are UTC days, whatever the zone written in the time', () => {
    const snaps = [
      snap('2025-03-11T01:30:00+02:00', 'a', 'late'), // 2025-03-10T23:30Z
      snap('2025-03-10T23:10:00Z', 'a', 'earlier'),
      snap('2025-03-11T00:10:00Z', 'a', 'next-day'),
      snap('2025-03-09T12:00:00Z', 'a', 'old'),
    ];
    const plan = planRetention(snaps, { daily: 2 });
    assert.deepEqual(
      plan.map((d) => [d.id, d.keep]),
      [
        ['next-day', true],
        ['late', true],
        ['earlier', false],
        ['old', false],
      ],
    );
    assert.equal(plan[1]!.time, '2025-03-11T01:30:00+02:00', 'the time is reported as given');
  });
});

describe('planRetention: last + weekly', () => {
  it('--keep-last 3 --keep-weekly 2 lists every reason', () => {
    // 2025-03-01 (Sat) … 2025-03-20 (Thu); ISO week 12 starts Mon 2025-03-17
    const plan = planRetention(daily('2025-03-01', '2025-03-20'), { last: 3, weekly: 2 });
    assert.deepEqual(kept(plan), [
      ['2025-03-20T02:00:00Z', ['last snapshot', 'weekly snapshot']],
      ['2025-03-19T02:00:00Z', ['last snapshot']],
      ['2025-03-18T02:00:00Z', ['last snapshot']],
      ['2025-03-16T02:00:00Z', ['weekly snapshot']],
    ]);
    assert.equal(plan.filter((d) => !d.keep).length, 16);
  });

  it('--keep-last n alone keeps the newest n, several per day if need be', () => {
    const snaps = [
      snap('2025-03-10T01:00:00Z'),
      snap('2025-03-10T02:00:00Z'),
      snap('2025-03-10T03:00:00Z'),
      snap('2025-03-09T03:00:00Z'),
    ];
    assert.deepEqual(kept(planRetention(snaps, { last: 2 })), [
      ['2025-03-10T03:00:00Z', ['last snapshot']],
      ['2025-03-10T02:00:00Z', ['last snapshot']],
    ]);
    // keep-last never adds an "oldest" snapshot: every snapshot is its own bucket
    assert.equal(keptTimes(planRetention(snaps, { last: 10 })).length, 4);
  });
});

describe('planRetention: ISO weeks', () => {
  it('isoWeek: Sunday ends a week, Monday starts the next; year-end weeks 1 and 53', () => {
    const w = (iso: string): string => {
      const r = isoWeek(new Date(iso));
      return `${r.year}-W${r.week}`;
    };
    assert.equal(w('2025-03-16T23:59:59Z'), '2025-W11'); // Sunday
    assert.equal(w('2025-03-17T00:00:00Z'), '2025-W12'); // Monday
    assert.equal(w('2020-12-31T12:00:00Z'), '2020-W53'); // Thursday
    assert.equal(w('2021-01-01T12:00:00Z'), '2020-W53'); // Friday of 2020's week 53
    assert.equal(w('2021-01-03T23:59:59Z'), '2020-W53'); // Sunday
    assert.equal(w('2021-01-04T00:00:00Z'), '2021-W1');
    assert.equal(w('2024-12-29T12:00:00Z'), '2024-W52'); // Sunday
    assert.equal(w('2024-12-30T00:00:00Z'), '2025-W1'); // Monday of 2025's week 1
    assert.equal(w('2026-01-01T00:00:00Z'), '2026-W1'); // Thursday
    assert.equal(w('2015-12-31T00:00:00Z'), '2015-W53');
    assert.equal(w('2016-01-03T00:00:00Z'), '2015-W53');
    assert.equal(w('2016-01-04T00:00:00Z'), '2016-W1');
  });

  it('Sunday late and Monday early fall in different weeks', () => {
    const snaps = [
      snap('2025-03-18T10:00:00Z'),
      snap('2025-03-17T00:00:00Z'), // week 12
      snap('2025-03-16T23:59:59Z'),
      snap('2025-03-15T10:00:00Z'), // week 11
      snap('2025-03-10T00:00:00Z'),
      snap('2025-03-09T10:00:00Z'),
    ];
    assert.deepEqual(keptTimes(planRetention(snaps, { weekly: 2 })), ['2025-03-18T10:00:00Z', '2025-03-16T23:59:59Z']);
  });

  it('the week of New Year belongs to one ISO year: 2024-12-30 is 2025-W01, unlike its calendar year', () => {
    const snaps = [
      snap('2025-01-02T10:00:00Z'),
      snap('2024-12-30T10:00:00Z'),
      snap('2024-12-28T10:00:00Z'),
      snap('2024-12-20T10:00:00Z'),
    ];
    assert.deepEqual(kept(planRetention(snaps, { weekly: 2 })), [
      ['2025-01-02T10:00:00Z', ['weekly snapshot']],
      ['2024-12-28T10:00:00Z', ['weekly snapshot']],
    ]);
    assert.deepEqual(kept(planRetention(snaps, { yearly: 2 })), [
      ['2025-01-02T10:00:00Z', ['yearly snapshot']],
      ['2024-12-30T10:00:00Z', ['yearly snapshot']],
    ]);
  });

  it('week 53 spans two calendar years', () => {
    const snaps = [
      snap('2021-01-05T10:00:00Z'),
      snap('2021-01-04T10:00:00Z'), // 2021-W01
      snap('2021-01-02T10:00:00Z'),
      snap('2020-12-28T10:00:00Z'), // 2020-W53
      snap('2020-12-27T10:00:00Z'), // 2020-W52
    ];
    assert.deepEqual(keptTimes(planRetention(snaps, { weekly: 2 })), ['2021-01-05T10:00:00Z', '2021-01-02T10:00:00Z']);
  });
});

describe('planRetention: hourly, monthly, yearly', () => {
  it('hourly keeps the newest snapshot of each UTC hour', () => {
    const snaps = [
      snap('2025-03-10T09:30:00Z'),
      snap('2025-03-10T10:05:00Z'),
      snap('2025-03-10T10:45:00Z'),
      snap('2025-03-10T11:00:00Z'),
      snap('2025-03-10T11:59:59.999Z'),
      snap('2025-03-10T12:00:00Z'),
    ];
    assert.deepEqual(kept(planRetention(snaps, { hourly: 3 })), [
      ['2025-03-10T12:00:00Z', ['hourly snapshot']],
      ['2025-03-10T11:59:59.999Z', ['hourly snapshot']],
      ['2025-03-10T10:45:00Z', ['hourly snapshot']],
    ]);
  });

  it('hourly across midnight and across zones', () => {
    const snaps = [
      snap('2025-03-11T00:10:00Z'),
      snap('2025-03-11T01:50:00+02:00'),
      snap('2025-03-10T23:10:00Z'),
      snap('2025-03-10T22:10:00Z'),
    ];
    assert.deepEqual(keptTimes(planRetention(snaps, { hourly: 2 })), [
      '2025-03-11T00:10:00Z',
      '2025-03-11T01:50:00+02:00',
    ]);
  });

  const monthsAndYears = [
    snap('2025-02-20T10:00:00Z'),
    snap('2025-02-01T10:00:00Z'),
    snap('2025-01-31T23:59:59Z'),
    snap('2025-01-15T10:00:00Z'),
    snap('2024-12-31T23:00:00Z'),
    snap('2024-12-01T10:00:00Z'),
    snap('2024-06-30T10:00:00Z'),
    snap('2023-07-01T10:00:00Z'),
    snap('2023-01-01T00:00:00Z'),
  ];

  it('--keep-monthly 3 --keep-yearly 3', () => {
    assert.deepEqual(kept(planRetention(monthsAndYears, { monthly: 3, yearly: 3 })), [
      ['2025-02-20T10:00:00Z', ['monthly snapshot', 'yearly snapshot']],
      ['2025-01-31T23:59:59Z', ['monthly snapshot']],
      ['2024-12-31T23:00:00Z', ['monthly snapshot', 'yearly snapshot']],
      ['2023-07-01T10:00:00Z', ['yearly snapshot']],
    ]);
  });

  it('--keep-yearly 5 with three years also keeps the oldest', () => {
    assert.deepEqual(kept(planRetention(monthsAndYears, { yearly: 5 })), [
      ['2025-02-20T10:00:00Z', ['yearly snapshot']],
      ['2024-12-31T23:00:00Z', ['yearly snapshot']],
      ['2023-07-01T10:00:00Z', ['yearly snapshot']],
      ['2023-01-01T00:00:00Z', ['oldest yearly snapshot']],
    ]);
  });

  it('all rules together, reasons in restic order', () => {
    const plan = planRetention([snap('2025-03-10T10:00:00Z'), snap('2025-03-09T10:00:00Z')], {
      yearly: 1,
      monthly: 1,
      weekly: 1,
      daily: 1,
      hourly: 1,
      last: 1,
    });
    assert.deepEqual(kept(plan), [
      [
        '2025-03-10T10:00:00Z',
        [
          'last snapshot',
          'hourly snapshot',
          'daily snapshot',
          'weekly snapshot',
          'monthly snapshot',
          'yearly snapshot',
        ],
      ],
    ]);
  });
});

describe('planRetention: hosts, ties, order', () => {
  it('counts apply per host; hosts come out in first-seen order, newest first within each', () => {
    const snaps = [
      ...daily('2025-03-01', '2025-03-05', 'b.ipa.test'),
      ...daily('2025-03-01', '2025-03-10', 'a.ipa.test'),
      snap('2025-01-01T00:00:00Z', 'c.ipa.test'),
    ];
    // interleave so that input order is not host order
    const shuffled = [snaps[3]!, snaps[8]!, ...snaps.filter((_, i) => i !== 3 && i !== 8)];
    const plan = planRetention(shuffled, { daily: 2 });
    assert.deepEqual([...new Set(plan.map((d) => d.host))], ['b.ipa.test', 'a.ipa.test', 'c.ipa.test']);
    assert.deepEqual(
      plan.filter((d) => d.keep).map((d) => `${d.host} ${d.time}`),
      [
        'b.ipa.test 2025-03-05T02:00:00Z',
        'b.ipa.test 2025-03-04T02:00:00Z',
        'a.ipa.test 2025-03-10T02:00:00Z',
        'a.ipa.test 2025-03-09T02:00:00Z',
        'c.ipa.test 2025-01-01T00:00:00Z',
      ],
    );
    for (const host of ['a.ipa.test', 'b.ipa.test']) {
      const times = plan.filter((d) => d.host === host).map((d) => Date.parse(d.time));
      assert.deepEqual(
        times,
        [...times].sort((x, y) => y - x),
      );
    }
    assert.equal(plan.length, snaps.length);
  });

  it("a host's newer snapshots never use up another host's counts", () => {
    const snaps = [
      snap('2025-03-10T10:00:00Z', 'a'),
      snap('2025-03-10T11:00:00Z', 'a'),
      snap('2024-01-01T10:00:00Z', 'b'),
    ];
    assert.deepEqual(
      planRetention(snaps, { last: 1 }).map((d) => [d.host, d.time, d.keep]),
      [
        ['a', '2025-03-10T11:00:00Z', true],
        ['a', '2025-03-10T10:00:00Z', false],
        ['b', '2024-01-01T10:00:00Z', true],
      ],
    );
  });

  it('ties in time: greater id first, whatever the input order', () => {
    const t = '2025-03-10T10:00:00Z';
    const x = snap(t, 'a', '20250310T100000Z-aaaa');
    const y = snap(t, 'a', '20250310T100000Z-bbbb');
    const older = snap('2025-03-09T10:00:00Z', 'a', '20250309T100000Z-cccc');
    for (const input of [
      [x, y, older],
      [y, x, older],
      [older, y, x],
    ]) {
      const plan = planRetention(input, { last: 1 });
      assert.deepEqual(
        plan.map((d) => [d.id, d.keep]),
        [
          [y.id, true],
          [x.id, false],
          [older.id, false],
        ],
      );
      const byDay = planRetention(input, { daily: 1 });
      assert.deepEqual(
        byDay.map((d) => [d.id, d.keep]),
        [
          [y.id, true],
          [x.id, false],
          [older.id, false],
        ],
      );
    }
  });

  it('fractions below the millisecond still order snapshots', () => {
    const plan = planRetention(
      [snap('2025-03-10T10:00:00.1234Z', 'a', 'z'), snap('2025-03-10T10:00:00.1235Z', 'a', 'a')],
      { last: 1 },
    );
    assert.deepEqual(
      plan.map((d) => [d.id, d.keep]),
      [
        ['a', true],
        ['z', false],
      ],
    );
  });

  it('no snapshots: an empty plan', () => {
    assert.deepEqual(planRetention([], { daily: 7 }), []);
  });

  it('does not change its input', () => {
    const snaps = daily('2025-03-01', '2025-03-05');
    const copy = structuredClone(snaps);
    planRetention(snaps, { last: 1 });
    assert.deepEqual(snaps, copy);
  });
});

describe('planRetention: refusals', () => {
  it('an empty or all-zero policy is refused, even with no snapshots', () => {
    usage(() => planRetention(daily('2025-03-01', '2025-03-05'), {}), /give at least one --keep-… option/);
    usage(() => planRetention([], { last: 0, daily: 0 }), /give at least one --keep-… option/);
  });

  it('a count that is not a whole number ≥ 0 is refused, naming the option', () => {
    usage(() => planRetention([], { daily: -1 }), /--keep-daily/);
    usage(() => planRetention([], { weekly: 1.5 }), /--keep-weekly/);
    usage(() => planRetention([], { last: Number.NaN, daily: 3 }), /--keep-last/);
    usage(() => planRetention([], { yearly: '3' as unknown as number }), /--keep-yearly/);
  });

  it('a time that cannot be read stops the plan', () => {
    for (const time of [
      '2025-02-30T10:00:00Z',
      '2025-03-10 10:00:00',
      '2025-03-10T10:00:00',
      '2025-03-10',
      '',
      'yesterday',
      '2025-03-10T24:00:00Z',
      '2025-03-10T10:00:60Z',
    ]) {
      assert.throws(
        () => planRetention([snap('2025-03-11T10:00:00Z'), { id: 'bad', host: 'a.ipa.test', time }], { last: 1 }),
        (err: unknown) => {
          assert.ok(err instanceof FleetError);
          assert.equal(err.kind, 'failure');
          assert.equal(err.host, 'a.ipa.test');
          assert.match(err.message, /snapshot bad of a\.ipa\.test/);
          return true;
        },
        time,
      );
    }
  });

  it('an id listed twice for one host stops the plan; the same id on two hosts is fine', () => {
    assert.throws(
      () =>
        planRetention([snap('2025-03-11T10:00:00Z', 'a', 'x'), snap('2025-03-10T10:00:00Z', 'a', 'x')], { last: 1 }),
      (err: unknown) => err instanceof FleetError && err.kind === 'failure' && /listed twice/.test(err.message),
    );
    assert.equal(
      planRetention([snap('2025-03-11T10:00:00Z', 'a', 'x'), snap('2025-03-10T10:00:00Z', 'b', 'x')], { last: 1 })
        .length,
      2,
    );
  });
});

describe('parseRetentionPolicy', () => {
  it('reads commander, dashed and policy keys; numbers or decimal strings; leaves zeros out', () => {
    assert.deepEqual(parseRetentionPolicy({ keepDaily: '7', keepWeekly: 4, keepLast: undefined, json: 'yes' }), {
      daily: 7,
      weekly: 4,
    });
    assert.deepEqual(parseRetentionPolicy({ 'keep-last': ' 3 ', '--keep-yearly': '10', keep_hourly: '0' }), {
      last: 3,
      yearly: 10,
    });
    assert.deepEqual(parseRetentionPolicy({ monthly: 12, daily: '07' }), { monthly: 12, daily: 7 });
    assert.deepEqual(parseRetentionPolicy({ keepDaily: '7', daily: 7 }), { daily: 7 });
  });

  it('refuses a value that is not a whole number ≥ 0, naming the option', () => {
    const cases: Array<[Record<string, string | number | undefined>, RegExp]> = [
      [{ keepDaily: '-1' }, /^--keep-daily: "-1" is not a whole number ≥ 0$/],
      [{ keepDaily: '1.5' }, /--keep-daily/],
      [{ keepWeekly: 'abc' }, /--keep-weekly/],
      [{ keepMonthly: '' }, /--keep-monthly/],
      [{ keepYearly: '1e3' }, /--keep-yearly/],
      [{ keepHourly: 2.5 }, /--keep-hourly/],
      [{ keepLast: -2 }, /--keep-last/],
      [{ keepLast: Number.POSITIVE_INFINITY }, /--keep-last/],
      [{ keepLast: '99999999999999999999' }, /--keep-last/],
      [{ 'keep-daily': 'unlimited' }, /--keep-daily/],
    ];
    for (const [opts, pattern] of cases) usage(() => parseRetentionPolicy(opts), pattern);
  });

  it('refuses unknown --keep-… options instead of ignoring them', () => {
    usage(() => parseRetentionPolicy({ keepDaily: 7, keepWithin: '7d' }), /^--keep-within: not a retention option/);
    usage(() => parseRetentionPolicy({ 'keep-dayly': 7 }), /--keep-dayly/);
  });

  it('refuses the same rule twice with different counts', () => {
    usage(() => parseRetentionPolicy({ keepDaily: 7, daily: 3 }), /--keep-daily given twice/);
  });

  it('empty or all-zero → give at least one --keep-… option', () => {
    for (const opts of [{}, { keepLast: 0, keepDaily: '0' }, { keepDaily: undefined }, { json: 'true' }]) {
      usage(() => parseRetentionPolicy(opts), /give at least one --keep-… option/);
    }
  });

  it('describes a policy like restic', () => {
    assert.equal(describeRetentionPolicy({ daily: 7, last: 3, weekly: 4 }), 'keep 3 last, 7 daily, 4 weekly snapshots');
  });
});

// Cases checked against restic: its documentation (doc/060_forget.rst) and the golden files of
// its policy test (internal/data/snapshot_policy_test.go, testdata/policy_keep_snapshots_N).
describe('planRetention agrees with restic', () => {
  it('docs: one backup every Sunday for 12 weeks, --keep-daily 4 keeps the last four Sundays', () => {
    const sundays = [
      '2019-09-01',
      '2019-09-08',
      '2019-09-15',
      '2019-09-22',
      '2019-09-29',
      '2019-10-06',
      '2019-10-13',
      '2019-10-20',
      '2019-10-27',
      '2019-11-03',
      '2019-11-10',
      '2019-11-17',
    ].map((d) => snap(`${d}T11:00:00Z`, 'mopped'));
    const plan = planRetention(sundays, { daily: 4 });
    assert.deepEqual(
      kept(plan),
      ['2019-11-17', '2019-11-10', '2019-11-03', '2019-10-27'].map((d) => [`${d}T11:00:00Z`, ['daily snapshot']]),
    );
    assert.equal(plan.filter((d) => !d.keep).length, 8);
  });

  it('forum: four snapshots in January, --keep-monthly 4 keeps the newest and, as oldest, the first', () => {
    const snaps = [
      snap('2024-01-02T13:42:44Z', 'myhost', '8910a903'),
      snap('2024-01-03T01:04:38Z', 'myhost', 'ab49e6f7'),
      snap('2024-01-04T20:09:54Z', 'myhost', '209e47d4'),
      snap('2024-01-04T20:20:32Z', 'myhost', 'acdde683'),
    ];
    const plan = planRetention(snaps, { monthly: 4 });
    assert.deepEqual(
      plan.filter((d) => d.keep).map((d) => [d.id, d.reasons]),
      [
        ['acdde683', ['monthly snapshot']],
        ['8910a903', ['oldest monthly snapshot']],
      ],
    );
  });

  it('docs: daily backups, --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --keep-yearly 75', () => {
    // Daily from 2022-01-01 to Thursday 2025-03-20.
    const plan = planRetention(daily('2022-01-01', '2025-03-20'), { daily: 7, weekly: 5, monthly: 12, yearly: 75 });
    const only = (reason: string): string[] =>
      plan.filter((d) => d.reasons.length === 1 && d.reasons[0] === reason).map((d) => d.time.slice(0, 10));
    // 7 dailies (they cover this week and last week's Fri–Sun), so 3 more weeklies
    assert.equal(plan.filter((d) => d.reasons.includes('daily snapshot')).length, 7);
    assert.deepEqual(only('weekly snapshot'), ['2025-03-09', '2025-03-02', '2025-02-23']);
    // 12 months: March 2025 is already kept, so 11 month-ends more
    assert.deepEqual(only('monthly snapshot'), [
      '2025-02-28',
      '2025-01-31',
      '2024-11-30',
      '2024-10-31',
      '2024-09-30',
      '2024-08-31',
      '2024-07-31',
      '2024-06-30',
      '2024-05-31',
      '2024-04-30',
    ]);
    assert.deepEqual(plan.find((d) => d.time.startsWith('2024-12-31'))!.reasons, [
      'monthly snapshot',
      'yearly snapshot',
    ]);
    // years: 2025 and 2024 already kept; 2023, 2022; budget left, so the oldest too
    assert.deepEqual(only('yearly snapshot'), ['2023-12-31', '2022-12-31']);
    assert.deepEqual(only('oldest yearly snapshot'), ['2022-01-01']);
    assert.equal(plan.filter((d) => d.keep).length, 7 + 3 + 11 + 2 + 1);
  });

  // restic's TestApplyPolicy snapshots (UTC), unordered, with a tie of five at 2015-10-22 10:20:30.
  const RESTIC_TIMES = [
    '2014-09-01 10:20:30',
    '2014-09-02 10:20:30',
    '2014-09-05 10:20:30',
    '2014-09-06 10:20:30',
    '2014-09-08 10:20:30',
    '2014-09-09 10:20:30',
    '2014-09-10 10:20:30',
    '2014-09-11 10:20:30',
    '2014-09-20 10:20:30',
    '2014-09-22 10:20:30',
    '2014-08-08 10:20:30',
    '2014-08-10 10:20:30',
    '2014-08-12 10:20:30',
    '2014-08-13 10:20:30',
    '2014-08-13 10:20:30.1',
    '2014-08-15 10:20:30',
    '2014-08-18 10:20:30',
    '2014-08-20 10:20:30',
    '2014-08-21 10:20:30',
    '2014-08-22 10:20:30',
    '2014-10-01 10:20:30',
    '2014-10-02 10:20:30',
    '2014-10-05 10:20:30',
    '2014-10-06 10:20:30',
    '2014-10-08 10:20:30',
    '2014-10-09 10:20:30',
    '2014-10-10 10:20:30',
    '2014-10-11 10:20:30',
    '2014-10-20 10:20:30',
    '2014-10-22 10:20:30',
    '2014-11-08 10:20:30',
    '2014-11-10 10:20:30',
    '2014-11-12 10:20:30',
    '2014-11-13 10:20:30',
    '2014-11-13 10:20:30.1',
    '2014-11-15 10:20:30',
    '2014-11-18 10:20:30',
    '2014-11-20 10:20:30',
    '2014-11-21 10:20:30',
    '2014-11-22 10:20:30',
    '2015-09-01 10:20:30',
    '2015-09-02 10:20:30',
    '2015-09-05 10:20:30',
    '2015-09-06 10:20:30',
    '2015-09-08 10:20:30',
    '2015-09-09 10:20:30',
    '2015-09-10 10:20:30',
    '2015-09-11 10:20:30',
    '2015-09-20 10:20:30',
    '2015-09-22 10:20:30',
    '2015-08-08 10:20:30',
    '2015-08-10 10:20:30',
    '2015-08-12 10:20:30',
    '2015-08-13 10:20:30',
    '2015-08-13 10:20:30.1',
    '2015-08-15 10:20:30',
    '2015-08-18 10:20:30',
    '2015-08-20 10:20:30',
    '2015-08-21 10:20:30',
    '2015-08-22 10:20:30',
    '2015-10-01 10:20:30',
    '2015-10-02 10:20:30',
    '2015-10-05 10:20:30',
    '2015-10-06 10:20:30',
    '2015-10-08 10:20:30',
    '2015-10-09 10:20:30',
    '2015-10-10 10:20:30',
    '2015-10-11 10:20:30',
    '2015-10-20 10:20:30',
    '2015-10-22 10:20:30',
    '2015-10-22 10:20:30',
    '2015-10-22 10:20:30',
    '2015-10-22 10:20:30',
    '2015-10-22 10:20:30',
    '2015-11-08 10:20:30',
    '2015-11-10 10:20:30',
    '2015-11-12 10:20:30',
    '2015-11-13 10:20:30',
    '2015-11-13 10:20:30.1',
    '2015-11-15 10:20:30',
    '2015-11-18 10:20:30',
    '2015-11-20 10:20:30',
    '2015-11-21 10:20:30',
    '2015-11-22 10:20:30',
    '2016-01-01 01:02:03',
    '2016-01-01 01:03:03',
    '2016-01-01 07:08:03',
    '2016-01-03 07:02:03',
    '2016-01-04 10:23:03',
    '2016-01-04 11:23:03',
    '2016-01-04 12:23:03',
    '2016-01-04 12:24:03',
    '2016-01-04 12:28:03',
    '2016-01-04 12:30:03',
    '2016-01-04 16:23:03',
    '2016-01-05 09:02:03',
    '2016-01-06 08:02:03',
    '2016-01-07 10:02:03',
    '2016-01-08 20:02:03',
    '2016-01-09 21:02:03',
    '2016-01-12 21:02:03',
    '2016-01-12 21:08:03',
    '2016-01-18 12:02:03',
  ];
  const resticSnaps = RESTIC_TIMES.map((t, i) =>
    snap(`${t.replace(' ', 'T')}Z`, 'restic', `s${String(i).padStart(3, '0')}`),
  );
  const resticKept = (policy: RetentionPolicy): Array<[string, string[]]> =>
    kept(planRetention(resticSnaps, policy)).map(([t, r]) => [t.replace('T', ' ').replace('Z', ''), r]);

  it('golden policy_keep_snapshots_5: --keep-hourly 20', () => {
    assert.deepEqual(
      resticKept({ hourly: 20 }).map(([t]) => t),
      [
        '2016-01-18 12:02:03',
        '2016-01-12 21:08:03',
        '2016-01-09 21:02:03',
        '2016-01-08 20:02:03',
        '2016-01-07 10:02:03',
        '2016-01-06 08:02:03',
        '2016-01-05 09:02:03',
        '2016-01-04 16:23:03',
        '2016-01-04 12:30:03',
        '2016-01-04 11:23:03',
        '2016-01-04 10:23:03',
        '2016-01-03 07:02:03',
        '2016-01-01 07:08:03',
        '2016-01-01 01:03:03',
        '2015-11-22 10:20:30',
        '2015-11-21 10:20:30',
        '2015-11-20 10:20:30',
        '2015-11-18 10:20:30',
        '2015-11-15 10:20:30',
        '2015-11-13 10:20:30.1',
      ],
    );
  });

  it('golden policy_keep_snapshots_14: --keep-monthly 6', () => {
    assert.deepEqual(
      resticKept({ monthly: 6 }),
      [
        '2016-01-18 12:02:03',
        '2015-11-22 10:20:30',
        '2015-10-22 10:20:30',
        '2015-09-22 10:20:30',
        '2015-08-22 10:20:30',
        '2014-11-22 10:20:30',
      ].map((t) => [t, ['monthly snapshot']]),
    );
  });

  it('golden policy_keep_snapshots_15: --keep-daily 2 --keep-weekly 2 --keep-monthly 6', () => {
    assert.deepEqual(resticKept({ daily: 2, weekly: 2, monthly: 6 }), [
      ['2016-01-18 12:02:03', ['daily snapshot', 'weekly snapshot', 'monthly snapshot']],
      ['2016-01-12 21:08:03', ['daily snapshot', 'weekly snapshot']],
      ['2015-11-22 10:20:30', ['monthly snapshot']],
      ['2015-10-22 10:20:30', ['monthly snapshot']],
      ['2015-09-22 10:20:30', ['monthly snapshot']],
      ['2015-08-22 10:20:30', ['monthly snapshot']],
      ['2014-11-22 10:20:30', ['monthly snapshot']],
    ]);
  });

  it('golden policy_keep_snapshots_16: --keep-yearly 10 (with the oldest)', () => {
    assert.deepEqual(resticKept({ yearly: 10 }), [
      ['2016-01-18 12:02:03', ['yearly snapshot']],
      ['2015-11-22 10:20:30', ['yearly snapshot']],
      ['2014-11-22 10:20:30', ['yearly snapshot']],
      ['2014-08-08 10:20:30', ['oldest yearly snapshot']],
    ]);
  });

  it('restic test invariants: keep + remove = all; at most the policy sum is kept', () => {
    for (const policy of [
      { last: 10 },
      { daily: 3 },
      { daily: 10 },
      { last: 5, daily: 5 },
      { weekly: 4 },
      { daily: 3, weekly: 4 },
      { daily: 7, weekly: 2, monthly: 3, yearly: 10 },
    ] as RetentionPolicy[]) {
      const plan = planRetention(resticSnaps, policy);
      assert.equal(plan.length, resticSnaps.length);
      const sum = Object.values(policy).reduce((a, b) => a + (b ?? 0), 0);
      assert.ok(plan.filter((d) => d.keep).length <= sum, JSON.stringify(policy));
    }
  });
});
