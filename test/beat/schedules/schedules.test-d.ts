// Type tests for the public schedule API: kinds narrow, JSON is a discriminated union, and the
// object form of crontab only takes known fields.
import { describe, expectTypeOf, it } from 'vitest';

import {
  clocked,
  crontab,
  dueRuns,
  every,
  scheduleFromJson,
  solar,
  type Schedule,
  type ScheduleJson,
} from '../../../src/beat/schedules/index.js';

describe('schedule types', () => {
  it('gives each factory its literal kind and a Schedule', () => {
    expectTypeOf(crontab('0 8 * * *').kind).toEqualTypeOf<'crontab'>();
    expectTypeOf(every('5m').kind).toEqualTypeOf<'interval'>();
    expectTypeOf(clocked(new Date()).kind).toEqualTypeOf<'clocked'>();
    expectTypeOf(solar('sunrise', 0, 0).kind).toEqualTypeOf<'solar'>();
    expectTypeOf(crontab('0 8 * * *')).toExtend<Schedule>();
    expectTypeOf(scheduleFromJson).returns.toEqualTypeOf<Schedule>();
  });

  it('narrows stored JSON by kind', () => {
    const json = {} as ScheduleJson;
    if (json.kind === 'interval') expectTypeOf(json.everyMs).toEqualTypeOf<number>();
    if (json.kind === 'solar') expectTypeOf(json.latitude).toEqualTypeOf<number>();
  });

  it('refuses unknown crontab fields and solar events at compile time', () => {
    // @ts-expect-error Celery's snake_case names are not fields here
    crontab({ day_of_week: 'mon' });
    // @ts-expect-error not one of Celery's solar events
    solar('moonrise', 0, 0);
  });

  it('returns nullable dates from dueRuns', () => {
    expectTypeOf(dueRuns).returns.toEqualTypeOf<{
      runNow: boolean;
      scheduledFor: Date | null;
      nextRunAt: Date | null;
    }>();
  });
});
