/**
 * The Redis key layout of the broker: kombu's (queue lists, priority lists, bindings,
 * unacked hash, unacked index, restore mutex) so Python Celery shares queues with us,
 * plus the few keys of our own (`celeriac.*`) for leases, delayed delivery and dead letters.
 * Must never rename a kombu key: a Celery worker finds messages only under these names.
 */

/** kombu's separator inside priority list names and binding members. */
export const SEP = '\x06\x16';

/** kombu's default `priority_steps`: one list per step, the plain queue list is step 0. */
export const PRIORITY_STEPS = [0, 3, 6, 9] as const;
export type PriorityStep = (typeof PRIORITY_STEPS)[number];

/**
 * Our priority (0..255, higher first, the `Broker` contract) as kombu's Redis priority
 * (0..9, lower first): `9 - min(p, 9)`, the mapping Celery users know from RabbitMQ with
 * `x-max-priority: 10` against Redis. A message published without a priority keeps
 * kombu's default 0, the plain queue list, where Celery puts its own default messages.
 */
export function toKombuPriority(priority: number | undefined): number {
  if (priority === undefined || !Number.isFinite(priority)) return 0;
  return 9 - Math.max(0, Math.min(9, Math.floor(priority)));
}

/** The inverse of `toKombuPriority` for what a consumer hands out (so a retry keeps its list). */
export function fromKombuPriority(kombu: unknown): number | undefined {
  if (typeof kombu !== 'number' || !Number.isFinite(kombu)) return undefined;
  return 9 - Math.max(0, Math.min(9, Math.floor(kombu)));
}

/** kombu's `priority(n)`: the highest step not above n (0-2 -> 0, 3-5 -> 3, 6-8 -> 6, 9 -> 9). */
export function priorityStep(kombu: number): PriorityStep {
  let step: PriorityStep = 0;
  for (const candidate of PRIORITY_STEPS) if (kombu >= candidate) step = candidate;
  return step;
}

/**
 * The pseudo-queue whose dead letters (`celeriac.dead._unreadable`) keep the unacked
 * entries a restore pass could not give back: unreadable, or listed without their message.
 */
export const UNRESTORABLE_QUEUE = '_unreadable';

/** A list to pop from, with the logical queue it belongs to. */
export interface QueueList {
  key: string;
  queue: string;
  step: PriorityStep;
}

export class RedisKeyspace {
  /** kombu's default key names; `keyPrefix` plays kombu's `global_keyprefix`. */
  readonly unacked: string;
  readonly unackedIndex: string;
  readonly unackedMutex: string;
  /** Ours: tag -> lease expiry (unix ms) of every delivery a Celeriac consumer holds. */
  readonly leases: string;
  /** Ours: envelopes waiting for their time, scored by due time (unix ms). */
  readonly delayed: string;

  constructor(readonly prefix: string = '') {
    this.unacked = `${prefix}unacked`;
    this.unackedIndex = `${prefix}unacked_index`;
    this.unackedMutex = `${prefix}unacked_mutex`;
    this.leases = `${prefix}celeriac.leases`;
    this.delayed = `${prefix}celeriac.delayed`;
  }

  /** kombu's `_q_for_pri`: the plain name for step 0, `<queue>\x06\x16<step>` otherwise. */
  list(queue: string, step: PriorityStep = 0): string {
    return step === 0 ? `${this.prefix}${queue}` : `${this.prefix}${queue}${SEP}${step}`;
  }

  /** The list name without the prefix, as stored in delayed members (the prefix is re-applied on promotion). */
  bareList(queue: string, step: PriorityStep = 0): string {
    return step === 0 ? queue : `${queue}${SEP}${step}`;
  }

  /** Every list of the queues in kombu's BRPOP order: all plain lists first, then step 3, 6, 9. */
  lists(queues: readonly string[]): QueueList[] {
    const out: QueueList[] = [];
    for (const step of PRIORITY_STEPS)
      for (const queue of queues) out.push({ key: this.list(queue, step), queue, step });
    return out;
  }

  /** kombu's binding table of an exchange. */
  binding(exchange: string): string {
    return `${this.prefix}_kombu.binding.${exchange}`;
  }

  /** A binding member: `<routing_key>\x06\x16<pattern>\x06\x16<queue>` (pattern empty for direct). */
  bindingMember(routingKey: string, queue: string): string {
    return `${routingKey}${SEP}${SEP}${queue}`;
  }

  /** Ours: rejected messages of a queue, newest first, each with its reason. */
  deadLetter(queue: string): string {
    return `${this.prefix}celeriac.dead.${queue}`;
  }
}
