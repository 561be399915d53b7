"""Sends one chord of N bench.add header tasks and a bench.tsum body with Python Celery's
own canvas, waits for the body, and prints one JSON line: send and total milliseconds,
the client's CPU seconds. Run by the canvas benchmark only."""
import json
import sys
import time

from celery import chord

from pyapp import add, tsum

n = int(sys.argv[1])
cpu0 = time.process_time()
t0 = time.perf_counter()
result = chord([add.s(i, i) for i in range(n)])(tsum.s())
sent = time.perf_counter()
# Polled: Celery 5.2's result.get() on Redis can miss the body's pub/sub message and wait
# until its timeout (seen here under load). One GET per 50 ms; under 0.1 per header task.
deadline = time.perf_counter() + 900
while not result.ready():
    if time.perf_counter() > deadline:
        raise SystemExit('the chord body did not finish in 900 s')
    time.sleep(0.05)
value = result.get(timeout=10)
done = time.perf_counter()
assert value == n * (n - 1), value
print(json.dumps({'sendMs': (sent - t0) * 1000, 'totalMs': (done - t0) * 1000,
                  'clientCpu': time.process_time() - cpu0}))
