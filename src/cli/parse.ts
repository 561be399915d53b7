/** Parsing of CLI flag values, with errors that name the flag. */
import { CeleriacError } from '../errors.js';

export function parseJsonFlag(flag: string, text: string, shape: 'array' | 'object'): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CeleriacError(`${flag} is not valid JSON: ${(error as Error).message}`);
  }
  const ok = shape === 'array' ? Array.isArray(value) : typeof value === 'object' && value !== null && !Array.isArray(value);
  if (!ok) throw new CeleriacError(`${flag} must be a JSON ${shape}, got: ${text}`);
  return value;
}
