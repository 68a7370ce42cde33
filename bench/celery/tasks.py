"""The Celery side of the job-queue benchmark: a no-op task on a Redis broker, configured for throughput.

Settings (environment, set by bench/run.sh): BENCH_CELERY_BROKER (a redis:// URL with a database number),
BENCH_CELERY_QUEUE (the queue name, unique per run), BENCH_CELERY_COUNTER (the Redis key that counts finished
tasks), BENCH_CELERY_PREFETCH (the worker prefetch multiplier).

Completion is counted without a result backend and without a Redis write per task, which would tax Celery with
work the database queue does not do: each worker process counts in memory and a background thread adds the count
to BENCH_CELERY_COUNTER every 20 ms (and once more at shutdown).
"""

import os
import threading

from celery import Celery, signals

BROKER = os.environ.get("BENCH_CELERY_BROKER", "redis://127.0.0.1:6379/15")
QUEUE = os.environ.get("BENCH_CELERY_QUEUE", "taskforge-bench")
COUNTER = os.environ.get("BENCH_CELERY_COUNTER", QUEUE + ":done")

app = Celery("taskforge_bench", broker=BROKER)
app.conf.update(
    task_default_queue=QUEUE,
    task_ignore_result=True,
    # Early acks (the default): the message is acked as the task starts, the same at-least-once-ish trade Celery
    # users get by default; late acks would add a Redis round trip per task.
    task_acks_late=False,
    worker_prefetch_multiplier=int(os.environ.get("BENCH_CELERY_PREFETCH", "64")),
    worker_hijack_root_logger=False,
    # No remote control (celery inspect/control): one consumer less per worker, and no shared pidbox keys.
    worker_enable_remote_control=False,
    broker_connection_retry_on_startup=True,
    # Plain JSON, as the database queue stores.
    task_serializer="json",
    accept_content=["json"],
)


class _Tally:
    """Finished tasks of this process, added to the Redis counter by a daemon thread every 20 ms.

    The thread starts with the first task of each process (a prefork child is a fresh process after the fork)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.pending = 0
        self.pid = None
        self.stop = None
        self.thread = None

    def add(self):
        with self.lock:
            self.pending += 1
            if self.pid != os.getpid():
                self._start()

    def _start(self):
        import redis

        client = redis.Redis.from_url(BROKER)
        stop = threading.Event()

        def run():
            while not stop.wait(0.02):
                self._flush(client)
            self._flush(client)

        self.pid, self.stop = os.getpid(), stop
        self.thread = threading.Thread(target=run, name="bench-tally", daemon=True)
        self.thread.start()

    def _flush(self, client):
        with self.lock:
            n, self.pending = self.pending, 0
        if n:
            client.incrby(COUNTER, n)

    def close(self):
        """Stops the thread after a last flush."""
        if self.thread is not None and self.pid == os.getpid():
            self.stop.set()
            self.thread.join(timeout=5)


tally = _Tally()


@signals.worker_shutdown.connect
@signals.worker_process_shutdown.connect
def _flush_on_exit(**_):
    tally.close()


@app.task(name="bench.noop")
def noop(label):
    """Does nothing, like Job::Noop."""
    tally.add()
