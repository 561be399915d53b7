/**
 * Hot-path cost of the protocol layer against the JSON built-ins it stands in for.
 * Run: npx vitest bench --run test/protocol. The Python-exact writer should stay within
 * about 2x JSON.stringify on ASCII payloads; the reader within a few percent of JSON.parse.
 */
import { bench, describe } from 'vitest';
import {
  decodeEnvelope,
  decodeTaskMessage,
  encodeEnvelope,
  encodeTaskMessage,
  parseCeleryJson,
  toPythonJson,
  type JsonValue,
} from '../../src/protocol/index.js';

const small: JsonValue = [
  [2, 3],
  {},
  { callbacks: null, errbacks: null, chain: null, chord: null },
];
const rows: JsonValue = [
  Array.from({ length: 200 }, (_, i) => ({
    id: i,
    name: `user-${i}`,
    email: `u${i}@example.com`,
    score: i * 1.5,
    tags: ['a', 'b'],
    active: i % 2 === 0,
  })),
  { page: 1 },
  { callbacks: null, errbacks: null, chain: null, chord: null },
];
const accented: JsonValue = [
  Array.from({ length: 200 }, (_, i) => ({ name: `café ✓ ${i}`, note: 'naïve résumé' })),
  {},
  {},
];

for (const [label, value] of [
  ['small body', small],
  ['200 ASCII rows', rows],
  ['200 non-ASCII rows', accented],
] as const) {
  const text = toPythonJson(value);
  describe(`write ${label}`, () => {
    bench('JSON.stringify', () => void JSON.stringify(value));
    bench('toPythonJson', () => void toPythonJson(value));
  });
  describe(`read ${label}`, () => {
    bench('JSON.parse', () => void JSON.parse(text));
    bench('parseCeleryJson', () => void parseCeleryJson(text));
  });
}

describe('whole task message', () => {
  const spec = {
    task: 'emails.send',
    id: '3f1c2a9e-8d4b-4c6e-9f0a-1b2c3d4e5f60',
    args: ['user@example.com', { template: 'welcome', vars: { name: 'Ada' } }],
    kwargs: {},
    origin: 'gen1@web',
    now: 0,
  };
  const envelope = encodeEnvelope(encodeTaskMessage(spec), 'tag');
  bench(
    'encodeTaskMessage + encodeEnvelope',
    () => void encodeEnvelope(encodeTaskMessage(spec), 'tag'),
  );
  bench(
    'decodeEnvelope + decodeTaskMessage',
    () => void decodeTaskMessage(decodeEnvelope(envelope)),
  );
});
