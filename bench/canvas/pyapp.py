"""The Python Celery 5.2 side of the canvas benchmark: the same two tasks as
canvas-app.mjs, on the broker and backend in BENCH_REDIS_URL. Run by the benchmark only."""
import os

from celery import Celery

url = os.environ['BENCH_REDIS_URL']
app = Celery('pybench', broker=url, backend=url)
app.conf.update(
    task_serializer='json', result_serializer='json', accept_content=['json'],
    worker_prefetch_multiplier=4, worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name='bench.add')
def add(a, b):
    return a + b


@app.task(name='bench.tsum')
def tsum(numbers):
    return sum(numbers)
