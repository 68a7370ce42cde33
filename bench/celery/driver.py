"""Enqueues the no-op tasks of the job-queue benchmark in batches and prints the enqueue rate as JSON, the same
shape `taskforge jobs enqueue-noop` prints.

Usage: driver.py --count N --batch B. Each batch is a Celery group sent through one producer connection, which
is how Celery sends many tasks at once.
"""

import argparse
import json
import time

from celery import group

from tasks import noop


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    if args.count < 0 or args.batch < 1:
        parser.error("--count must be >= 0 and --batch >= 1")

    # Signatures are built before the clock starts, as the Rust side builds its envelopes first.
    batches = [
        group(noop.s(f"bench-{i}") for i in range(start, min(start + args.batch, args.count)))
        for start in range(0, args.count, args.batch)
    ]
    started = time.perf_counter()
    with noop.app.producer_or_acquire() as producer:
        for batch in batches:
            batch.apply_async(producer=producer)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "jobs": args.count,
                "batch": args.batch,
                "seconds": seconds,
                "jobs_per_second": args.count / max(seconds, 1e-9),
            }
        )
    )


if __name__ == "__main__":
    main()
