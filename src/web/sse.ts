/**
 * Turns a task's state updates into a server-sent events body: one `data:` event per
 * state, each a full TaskView snapshot (so a client that reconnects loses nothing by
 * starting over), comment heartbeats so proxies keep the connection open, an end right
 * after a final state, and an end with a `reconnect` event once the stream's lifetime is
 * up. It must never outlive its client: when the stream is cancelled, the lifetime ends or
 * the abort controller fires, it stops its timers and ends the updates, which unsubscribes
 * from the result backend. It must never put an error's text or stack in the stream.
 */
import type { ResultMeta } from '../protocol/types.js';
import { isFinal, toTaskView } from './task-view.js';

export interface TaskEventStreamOptions {
  /** The task's updates, already started: its first meta has been read into `first`. */
  updates: AsyncIterator<ResultMeta>;
  first: ResultMeta;
  /**
   * Aborting it ends the stream; the stream aborts it when it ends for any reason (reader
   * cancelled, final state sent, lifetime up, backend error), so its listeners learn of
   * every end, once.
   */
  controller: AbortController;
  /** Milliseconds between comment heartbeats. */
  heartbeatMs: number;
  /** Milliseconds a browser's EventSource waits before reconnecting after a drop. */
  retryMs: number;
  /** Milliseconds the stream stays open before it ends with a `reconnect` event. */
  lifetimeMs: number;
  /** Told of an error reading the updates; the stream then ends as if its lifetime were up. */
  onError: (error: unknown) => void;
}

const encoder = new TextEncoder();

/** Formats one SSE event. JSON.stringify never emits raw newlines, so one `data:` line suffices. */
export function formatEvent(data: unknown, id?: number, retryMs?: number, event?: string): string {
  let text = '';
  if (retryMs !== undefined) text += `retry: ${retryMs}\n`;
  if (event !== undefined) text += `event: ${event}\n`;
  if (id !== undefined) text += `id: ${id}\n`;
  return `${text}data: ${JSON.stringify(data)}\n\n`;
}

export function taskEventStream(options: TaskEventStreamOptions): ReadableStream<Uint8Array> {
  const { updates, first, controller: stop, heartbeatMs, retryMs, lifetimeMs, onError } = options;
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
      const finish = () => {
        if (!open) return;
        open = false;
        try {
          stream.close();
        } catch {
          // Already cancelled by the reader: nothing left to end.
        }
      };
      // An unnamed event would reach `onmessage` as a task view; a named one does not, and
      // the end that follows makes EventSource reconnect after `retry` by itself.
      const endForReconnect = () => {
        send(formatEvent({ reconnectAfterMs: retryMs }, undefined, retryMs, 'reconnect'));
        stop.abort();
      };
      const heartbeat = setInterval(() => send(': heartbeat\n\n'), heartbeatMs);
      const lifetime = setTimeout(endForReconnect, lifetimeMs);
      // Timers alone must not keep a process alive that is otherwise shutting down.
      heartbeat.unref();
      lifetime.unref();
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
      const cleanup = async () => {
        clearInterval(heartbeat);
        clearTimeout(lifetime);
        // Ends the generator, whose `finally` unsubscribes from the backend.
        await updates.return?.(undefined).catch(() => undefined);
        finish();
        stop.abort();
      };
      void pump().then(cleanup, (error: unknown) => {
        onError(error);
        if (!stop.signal.aborted) endForReconnect();
        return cleanup();
      });
    },
    cancel() {
      stop.abort();
    },
  });
}
