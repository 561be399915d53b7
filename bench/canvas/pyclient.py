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
value = result.get(timeout=900, interval=0.05)
done = time.perf_counter()
assert value == n * (n - 1), value
print(json.dumps({'sendMs': (sent - t0) * 1000, 'totalMs': (done - t0) * 1000,
                  'clientCpu': time.process_time() - cpu0}))
