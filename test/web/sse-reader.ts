/**
 * A small server-sent events reader for tests: parses a response body into events and
 * comments as a browser's EventSource would (`data:`, `id:`, `retry:`, `:` comments).
 * Test support only; it must never be imported by src/.
 */

export interface SseEvent {
  /** `data` lines joined, or undefined for a comment. */
  data?: string;
  id?: string;
  retry?: number;
  event?: string;
  /** Set for `: comment` lines. */
  comment?: string;
}

/** Yields each event and comment as it arrives; ends when the body ends. */
export async function* readSse(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<SseEvent, void, undefined> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let buffer = '';
  let current: SseEvent = {};
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = buffer.indexOf('\n')) !== -1) {
        const line = buffer.slice(0, newline).replace(/\r$/, '');
        buffer = buffer.slice(newline + 1);
        if (line === '') {
          if (current.data !== undefined || current.id !== undefined) yield current;
          current = {};
        } else if (line.startsWith(':')) {
          yield { comment: line.slice(1).trim() };
        } else {
          const colon = line.indexOf(':');
          const field = colon === -1 ? line : line.slice(0, colon);
          const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'data')
            current.data = current.data === undefined ? value : `${current.data}\n${value}`;
          else if (field === 'id') current.id = value;
          else if (field === 'retry') current.retry = Number(value);
          else if (field === 'event') current.event = value;
        }
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/** The JSON of each data event until the stream ends, ignoring comments. */
export async function collectData<T>(
  body: ReadableStream<Uint8Array>,
  onEach?: (data: T) => void,
): Promise<T[]> {
  const all: T[] = [];
  for await (const event of readSse(body)) {
    if (event.data === undefined) continue;
    const data = JSON.parse(event.data) as T;
    onEach?.(data);
    all.push(data);
  }
  return all;
}
