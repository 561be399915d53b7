/**
 * The worker's node name from `-n`, as Celery forms it: `%h` is this machine's host name
 * (with its domain), `%n` the host name's first label, `%d` the domain (the rest after the
 * first dot, empty when there is none) and `%%` a literal `%`. A name with no `@` is the
 * host part: `-n w1.%h` gives `celeriac@w1.george.example.com`, as Celery gives
 * `celery@...`. Pure: the machine's host name is passed in. Throws commander's
 * InvalidArgumentError, so as an argParser it stops the command naming the option.
 */
import { InvalidArgumentError } from 'commander';

export const DEFAULT_NODE_NAME = 'celeriac';

export function expandNodeName(template: string, machineHost: string): string {
  const dot = machineHost.indexOf('.');
  const keys: Record<string, string> = {
    h: machineHost,
    n: dot === -1 ? machineHost : machineHost.slice(0, dot),
    d: dot === -1 ? '' : machineHost.slice(dot + 1),
    '%': '%',
  };
  const expanded = template.replace(/%(.?)/gs, (whole, key: string) => {
    const value = keys[key];
    if (value === undefined) {
      throw new InvalidArgumentError(
        `Unknown "${whole}": use %h (host name), %n (its first part), %d (domain) or %% (a literal %), e.g. worker1@%h.`,
      );
    }
    return value;
  });
  if (expanded.trim() === '') throw new InvalidArgumentError('The worker name is empty.');
  return expanded.includes('@') ? expanded : `${DEFAULT_NODE_NAME}@${expanded}`;
}
