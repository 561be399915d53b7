// The `celeriac` command as an installed package runs it: the built CLI from dist/, with
// no TypeScript loader (bin/celeriac.js runs the sources through tsx in a checkout, whose
// per-closure name helper costs the hot path a few percent). Benchmarks start their
// Celeriac workers with it, so the figures are the ones users get from the package.
import { main } from '../dist/cli/main.js';

await main(process.argv);
