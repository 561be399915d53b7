#!/usr/bin/env node
// The `celeriac` command. Registers tsx first so `-A app.ts` runs TypeScript without a
// build step. In a source checkout it runs the TypeScript sources (so an app importing
// `src/` shares one copy of the library with the CLI); an installed package has only dist/.
import { existsSync } from 'node:fs';
import { register } from 'tsx/esm/api';

register();
const source = new URL('../src/cli/main.ts', import.meta.url);
const built = new URL('../dist/cli/main.js', import.meta.url);
const { main } = await import(existsSync(source) ? source.href : built.href);
await main(process.argv);
