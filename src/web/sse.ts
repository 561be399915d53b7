/**
 * Turns a task's state updates into a server-sent events body: one `data:` event per
 * state, each a full TaskView snapshot (so a client that reconnects loses nothing by
 * starting over), comment heartbeats so proxies keep the connection open, and an end
 * right after a final state. It must never outlive its client: when the stream is
 * cancelled or the abort controller fires, it stops the heartbeat and ends the updates,
 * which unsubscribes from the result backend.
 */
import type { ResultMeta } from '../protocol/types.js';
import { isFinal, toTaskView } from './task-view.js';

export interface TaskEventStreamOptions {
  /** The task's updates, already started: its first meta has been read into `first`. */
  updates: AsyncIterator<ResultMeta>;
  first: ResultMeta;
  /** Aborting it ends the stream; the stream aborts it when its reader cancels. */
  controller: AbortController;
  /** Milliseconds between comment heartbeats. */
  heartbeatMs: number;
  /** Milliseconds a browser's EventSource waits before reconnecting after a drop. */
  retryMs: number;
}

const encoder = new TextEncoder();

/** Formats one SSE event. JSON.stringify never emits raw newlines, so one `data:` line suffices. */
export function formatEvent(data: unknown, id?: number, retryMs?: number): string {
  let event = '';
  if (retryMs !== undefined) event += `retry: ${retryMs}\n`;
  if (id !== undefined) event += `id: ${id}\n`;
  return `${event}data: ${JSON.stringify(data)}\n\n`;
}

export function taskEventStream(options: TaskEventStreamOptions): ReadableStream<Uint8Array> {
  const { updates, first, controller: stop, heartbeatMs, retryMs } = options;
  let heartbeat: NodeJS.Timeout | undefined;
  return new ReadableStream<Uint8Array>({
    start(stream) {
      let open = true;
      const send = (text: string) => {
        if (!open) return;
        try {
          stream.enqueue(encoder.encode(text));
        } catch {
          // The reader went away between our check and the write; cancel() is on its way.
          open = false;
        }
      };
      const finish = (error?: unknown) => {
        if (!open) return;
        open = false;
        try {
          if (error === undefined) stream.close();
          else stream.error(error);
        } catch {
          // Already cancelled by the reader: nothing left to end.
        }
      };
      heartbeat = setInterval(() => send(': heartbeat\n\n'), heartbeatMs);
      // A heartbeat alone must not keep a process alive that is otherwise shutting down.
      heartbeat.unref();
      stop.signal.addEventListener('abort', () => finish(), { once: true });

      const pump = async () => {
        let sequence = 1;
        let view = toTaskView(first);
        send(formatEvent(view, sequence, retryMs));
        while (!isFinal(view) && !stop.signal.aborted) {
          const next = await updates.next();
          if (next.done) break;
          view = toTaskView(next.value);
          send(formatEvent(view, ++sequence));
        }
      };
      void pump().then(
        () => cleanup().then(() => finish()),
        (error: unknown) => cleanup().then(() => finish(error)),
      );
    },
    cancel() {
      stop.abort();
    },
  });

  async function cleanup(): Promise<void> {
    clearInterval(heartbeat);
    // Ends the generator, whose `finally` unsubscribes from the backend.
    await updates.return?.(undefined).catch(() => undefined);
  }
}
