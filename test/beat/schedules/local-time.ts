/**
 * Test helpers that show an instant as wall-clock time in a zone, independently of croner, so the
 * DST tests check croner's answers against the runtime's own zone database (Intl).
 */

const formats = new Map<string, Intl.DateTimeFormat>();

function format(tz: string): Intl.DateTimeFormat {
  let f = formats.get(tz);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
      timeZoneName: 'longOffset',
    });
    formats.set(tz, f);
  }
  return f;
}

/** `2026-03-29 02:00:00 +01:00`: the wall-clock time and UTC offset of `date` in `tz`. */
export function local(date: Date, tz: string): string {
  const parts = Object.fromEntries(
    format(tz)
      .formatToParts(date)
      .map((p) => [p.type, p.value]),
  );
  const offset =
    parts.timeZoneName === 'GMT' ? '+00:00' : (parts.timeZoneName ?? '').replace('GMT', '');
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second} ${offset}`;
}

/** All runs of `schedule` in (from, to], in order. */
export function runsBetween(
  schedule: { nextAfter(after: Date): Date | null },
  from: string,
  to: string,
): Date[] {
  const end = new Date(to).getTime();
  const runs: Date[] = [];
  let cursor: Date | null = new Date(from);
  for (;;) {
    cursor = schedule.nextAfter(cursor);
    if (cursor === null || cursor.getTime() > end) return runs;
    runs.push(cursor);
  }
}

export const iso = (dates: readonly Date[]): string[] => dates.map((d) => d.toISOString());
