#!/usr/bin/env python3
"""End-to-end latency from a task assignment to its email in the outbox, against a running `taskforge serve`.

Sets up two users (ann assigns, bob is assigned), an org both belong to and a project through the HTTP API, then
creates tasks assigned to bob: a steady scenario at a fixed rate, then a burst sent as fast as a few concurrent
clients can. A watcher thread lists the outbox directory every few milliseconds; each new `.eml` whose Subject says
"ann assigned you KEY: ..." marks that task's arrival. Latency = arrival - the start of the create request.

Prints one line per scenario, `RESULT <scenario> count=N p50_ms=.. p95_ms=.. p99_ms=.. max_ms=..`, for bench/run.sh.
Exits non-zero on any failed request and when an email has not arrived within the deadline. Standard library only.
"""
import argparse
import concurrent.futures
import email
import email.policy
import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.request

SUBJECT = re.compile(r"^ann assigned you ([A-Z][A-Z0-9]*-[0-9]+): ")


class BenchError(Exception):
    pass


def call(base, method, path, body=None, token=None, headers=None):
    """One JSON request; returns (status, parsed body, response headers). Raises BenchError on a non-2xx answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + "/api/v1" + path, data=data, method=method)
    req.add_header("accept", "application/json")
    if data is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw else None), resp.headers
    except urllib.error.HTTPError as e:
        raise BenchError(f"{method} {path} answered {e.code}: {e.read().decode(errors='replace')}") from None


def user(base, name):
    """Registers `name` and mints an API token through the session (cookie + CSRF header); returns (id, token)."""
    _, body, headers = call(
        base,
        "POST",
        "/auth/register",
        {"email": f"{name}@example.com", "name": name, "password": f"{name}-password-123"},
    )
    cookie = headers["set-cookie"].split(";", 1)[0]
    _, token, _ = call(
        base,
        "POST",
        "/me/tokens",
        {"name": "bench", "scopes": ["read", "write", "admin"]},
        headers={"cookie": cookie, "x-csrf-token": body["csrf_token"]},
    )
    return body["user"]["id"], token["secret"]


def setup(base):
    """ann owns an org with project WEB; bob joins it through an invitation. Returns (task create path, ann, bob)."""
    _, ann = user(base, "ann")
    bob_id, bob = user(base, "bob")
    call(base, "POST", "/orgs", {"name": "Bench"}, ann)
    _, orgs, _ = call(base, "GET", "/orgs", token=ann)
    org = next(o["id"] for o in orgs if o["name"] == "Bench")
    _, invitation, _ = call(base, "POST", f"/orgs/{org}/invitations", {"email": "bob@example.com", "role": "member"}, ann)
    call(base, "POST", "/invitations/accept", {"token": invitation["token"]}, bob)
    _, project, _ = call(base, "POST", f"/orgs/{org}/projects", {"key": "WEB", "name": "Web"}, ann)
    return f"/orgs/{org}/projects/{project['id']}/tasks", ann, bob_id


class OutboxWatcher(threading.Thread):
    """Records when each assignment email first shows up in the outbox (files are renamed into place whole)."""

    def __init__(self, directory, every):
        super().__init__(daemon=True)
        self.directory = directory
        self.every = every
        self.seen = set()
        self.arrivals = {}  # task key -> monotonic time of the first look that saw its email
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.error = None

    def run(self):
        try:
            while not self.stop.is_set():
                self.look()
                time.sleep(self.every)
        except Exception as e:  # surfaced by the main thread
            self.error = e

    def look(self):
        now = time.monotonic()
        try:
            names = [e.name for e in os.scandir(self.directory) if e.name.endswith(".eml")]
        except FileNotFoundError:
            return  # created with the first email
        for name in names:
            if name in self.seen:
                continue
            self.seen.add(name)
            with open(os.path.join(self.directory, name), "rb") as f:
                message = email.message_from_binary_file(f, policy=email.policy.default)
            match = SUBJECT.match(str(message["subject"] or ""))
            if match is None:
                continue  # other mail (invitation)
            with self.lock:
                if match.group(1) in self.arrivals:
                    raise BenchError(f"a second assignment email for {match.group(1)}: {name}")
                self.arrivals[match.group(1)] = now

    def arrival(self, key):
        with self.lock:
            return self.arrivals.get(key)


def create(base, path, token, assignee, title):
    """Creates one assigned task; returns (its key, the monotonic time the request started)."""
    started = time.monotonic()
    _, task, _ = call(base, "POST", path, {"title": title, "assignee_ids": [assignee]}, token)
    return task["key"], started


def steady(base, path, token, assignee, count, rate):
    sent = {}
    start = time.monotonic()
    for i in range(count):
        pause = start + i / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        key, started = create(base, path, token, assignee, f"Steady {i}")
        sent[key] = started
    return sent


def burst(base, path, token, assignee, count, clients):
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(create, base, path, token, assignee, f"Burst {i}") for i in range(count)]
        return dict(f.result() for f in futures)


def wait_for(watcher, sent, deadline):
    """Waits until every sent task's email arrived; returns the latencies in ms."""
    end = time.monotonic() + deadline
    while True:
        if watcher.error:
            raise BenchError(f"the outbox watcher failed: {watcher.error}")
        missing = [key for key in sent if watcher.arrival(key) is None]
        if not missing:
            return sorted((watcher.arrival(key) - started) * 1000 for key, started in sent.items())
        if time.monotonic() > end:
            raise BenchError(
                f"{len(missing)} of {len(sent)} emails not in the outbox {deadline} s after the last request, "
                f"e.g. {', '.join(sorted(missing)[:5])}"
            )
        time.sleep(0.05)


def percentile(values, p):
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    rank = max(1, -(-len(values) * p // 100))
    return values[int(rank) - 1]


def report(name, latencies):
    figures = {f"p{p}_ms": percentile(latencies, p) for p in (50, 95, 99)}
    figures["max_ms"] = latencies[-1]
    print(
        f"RESULT {name} count={len(latencies)} " + " ".join(f"{k}={v:.1f}" for k, v in figures.items()),
        flush=True,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the server, e.g. http://127.0.0.1:8080")
    parser.add_argument("--outbox", required=True, help="the outbox directory, {data_dir}/outbox")
    parser.add_argument("--tasks", type=int, default=300, help="tasks of the steady scenario")
    parser.add_argument("--rate", type=float, default=20, help="tasks per second of the steady scenario")
    parser.add_argument("--burst", type=int, default=100, help="tasks of the burst scenario (0: none)")
    parser.add_argument("--burst-clients", type=int, default=8, help="concurrent clients of the burst")
    parser.add_argument("--deadline", type=float, default=60, help="seconds an email may take before the run fails")
    parser.add_argument("--poll-ms", type=float, default=2, help="how often the outbox is listed")
    args = parser.parse_args()

    path, token, assignee = setup(args.base)
    watcher = OutboxWatcher(args.outbox, args.poll_ms / 1000)
    watcher.start()
    # The invitation email is set-up, not measured: wait for it so the pipeline is idle when the clock starts.
    end = time.monotonic() + args.deadline
    while not watcher.seen:
        if watcher.error or time.monotonic() > end:
            raise BenchError(f"the invitation email did not reach {args.outbox}: {watcher.error or 'deadline'}")
        time.sleep(0.05)

    sent = steady(args.base, path, token, assignee, args.tasks, args.rate)
    report("mail-steady", wait_for(watcher, sent, args.deadline))
    if args.burst:
        sent = burst(args.base, path, token, assignee, args.burst, args.burst_clients)
        report("mail-burst", wait_for(watcher, sent, args.deadline))
    watcher.stop.set()


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        print(f"mail latency: {e}", file=sys.stderr)
        sys.exit(1)
