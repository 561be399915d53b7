/**
 * The dashboard's live updates: an event feed says "something about these tasks
 * changed", and each open page's stream (SSE) answers with its fragment rendered again.
 * The default feed watches the result backend's listing (the newest changes, read once a
 * second for every open stream together); worker events (remote control) can be another
 * DashboardEventFeed later, with no change to the pages.
 */
import type { TaskListing } from '../../backends/task-listing.js';

export interface DashboardEvent {
  /** The task that changed, when the feed knows it. */
  taskId?: string | undefined;
  state?: string | undefined;
}

/** Where live changes come from. `subscribe` answers the function that stops listening. */
export interface DashboardEventFeed {
  subscribe(listener: (event: DashboardEvent) => void): () => void;
}

/**
 * Reads the newest changes of the listing every `intervalMs` while someone listens, and
 * tells each change (a task id with a new state, or a new task) to every listener.
 */
export function listingFeed(
  listing: () => Promise<TaskListing>,
  intervalMs = 1000,
): DashboardEventFeed {
  const listeners = new Set<(event: DashboardEvent) => void>();
  let timer: NodeJS.Timeout | undefined;
  let last = new Map<string, string>();
  let primed = false;
  const poll = async () => {
    try {
      const page = await (await listing()).list({ limit: 100 });
      const now = new Map(page.tasks.map((t) => [t.task_id, t.status]));
      if (primed) {
        for (const [taskId, state] of now) {
          if (last.get(taskId) !== state)
            for (const listener of listeners) listener({ taskId, state });
        }
      }
      last = now;
      primed = true;
    } catch {
      // The backend is down for now: the next tick tries again.
    }
  };
  return {
    subscribe(listener) {
      listeners.add(listener);
      if (!timer) {
        void poll();
        timer = setInterval(() => void poll(), intervalMs);
        timer.unref();
      }
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0 && timer) {
          clearInterval(timer);
          timer = undefined;
          primed = false;
        }
      };
    },
  };
}

/** A change every `intervalMs` while someone listens: for pages whose state changes with no task event. */
export function tickFeed(intervalMs: number): DashboardEventFeed {
  return {
    subscribe(listener) {
      const timer = setInterval(() => listener({}), intervalMs);
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}

/** Every change of each feed. */
export function mergeFeeds(...feeds: DashboardEventFeed[]): DashboardEventFeed {
  return {
    subscribe(listener) {
      const stops = feeds.map((feed) => feed.subscribe(listener));
      return () => {
        for (const stop of stops) stop();
      };
    },
  };
}

/** A feed of one task's stored states, from the result backend's push (`subscribe`). */
export function taskFeed(
  subscribe: (listener: (state: string) => void) => Promise<() => Promise<void>>,
): DashboardEventFeed {
  return {
    subscribe(listener) {
      let stopped = false;
      let unsubscribe: (() => Promise<void>) | undefined;
      void subscribe((state) => listener({ state })).then(
        (stop) => {
          if (stopped) void stop();
          else unsubscribe = stop;
        },
        () => undefined,
      );
      return () => {
        stopped = true;
        void unsubscribe?.();
      };
    },
  };
}

/**
 * An SSE body: `render()` once a change arrives (at most every `minGapMs`), sent as a
 * `fragment` event `{ target, html }`; a comment every 15 s keeps proxies from closing it.
 * Ends when `signal` aborts (the client left) or after `lifetimeMs` (the browser
 * reconnects by itself).
 */
export function fragmentStream(
  feed: DashboardEventFeed,
  render: () => Promise<Array<{ target: string; html: string }>>,
  signal: AbortSignal,
  options: { lifetimeMs?: number; minGapMs?: number } = {},
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let stop = () => undefined as void;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      let pending = false;
      let closed = false;
      const lastSent = new Map<string, string>();
      const send = (text: string) => {
        if (!closed) controller.enqueue(encoder.encode(text));
      };
      const close = () => {
        if (closed) return;
        closed = true;
        unsubscribe();
        clearInterval(heartbeat);
        clearTimeout(lifetime);
        controller.close();
      };
      const refresh = () => {
        if (pending) return;
        pending = true;
        setTimeout(() => {
          pending = false;
          void render().then(
            (fragments) => {
              for (const fragment of fragments) {
                // A tick with nothing new sends nothing: a page left open costs no traffic.
                if (lastSent.get(fragment.target) === fragment.html) continue;
                lastSent.set(fragment.target, fragment.html);
                send(`event: fragment\ndata: ${JSON.stringify(fragment)}\n\n`);
              }
            },
            () => undefined,
          );
        }, options.minGapMs ?? 200);
      };
      send('retry: 2000\n: live\n\n');
      const unsubscribe = feed.subscribe(refresh);
      const heartbeat = setInterval(() => send(': keep-alive\n\n'), 15_000);
      const lifetime = setTimeout(close, options.lifetimeMs ?? 300_000);
      signal.addEventListener('abort', close, { once: true });
      stop = close;
    },
    cancel() {
      stop();
    },
  });
}
