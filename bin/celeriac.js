#!/usr/bin/env node
// The `celeriac` command. Registers tsx first so `-A app.ts` runs TypeScript without a
// build step, then runs the built CLI when there is one, else its TypeScript source.
import { existsSync } from 'node:fs';
import { register } from 'tsx/esm/api';

register();
const built = new URL('../dist/cli/main.js', import.meta.url);
const { main } = await import(existsSync(built) ? built.href : new URL('../src/cli/main.ts', import.meta.url).href);
await main(process.argv);
