/**
 * How an exchange routes a message to the queues bound to it, AMQP's way, for brokers that
 * emulate exchanges themselves (memory, SQLite): a fanout reaches every bound queue, a
 * direct exchange the queues bound with the routing key, a topic exchange the queues whose
 * binding key matches (`*` exactly one word, `#` zero or more). Pure; imports nothing.
 */
import type { ExchangeSpec } from './broker.js';

/** True when a queue bound with `bindingKey` gets a message sent with `routingKey`. */
export function routes(
  type: ExchangeSpec['type'],
  bindingKey: string,
  routingKey: string,
): boolean {
  if (type === 'fanout') return true;
  if (type === 'direct') return bindingKey === routingKey;
  return topicMatches(bindingKey.split('.'), routingKey.split('.'));
}

/** AMQP topic matching: `*` is exactly one word, `#` zero or more. */
export function topicMatches(pattern: readonly string[], words: readonly string[]): boolean {
  if (pattern.length === 0) return words.length === 0;
  const [head, ...rest] = pattern;
  if (head === '#') {
    for (let skip = 0; skip <= words.length; skip++)
      if (topicMatches(rest, words.slice(skip))) return true;
    return false;
  }
  if (words.length === 0) return false;
  return (head === '*' || head === words[0]) && topicMatches(rest, words.slice(1));
}
