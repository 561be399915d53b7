// The app the canvas benchmark's Celeriac worker runs: the header task and the body of a
// large chord. Plain JavaScript importing the built package, as a user's compiled app does.
// Prints `bench-ready` on stdout once it can reach the broker.
import { Celeriac } from 'celeriac';

export const app = new Celeriac({});

app.task('bench.add', (a, b) => a + b);
app.task('bench.tsum', (numbers) => numbers.reduce((a, b) => a + b, 0));

setTimeout(function announce() {
  void app.broker().then(() => process.stdout.write('bench-ready\n'));
}, 0);
