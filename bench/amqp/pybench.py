"""Python Celery's side of `npm run bench -- amqp`: a no-op task named like Celeriac's
bench task. Each run writes `bench-tick` straight to file descriptor 1 (past Celery's
stdout redirection, from any pool process) so the bench can time the first to the last.
Broker from CELERY_BROKER_URL; results ignored, as on the Celeriac side. Bench only."""
import os

from celery import Celery

app = Celery('pybench', broker=os.environ['CELERY_BROKER_URL'])
app.conf.update(task_ignore_result=True, accept_content=['json'], worker_hijack_root_logger=False)


@app.task(name='bench.noop')
def noop():
    os.write(1, b'bench-tick\n')
