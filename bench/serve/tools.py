#!/usr/bin/env python3
"""Helpers for bench/serve/run.sh (standard library only).

  fire URL --count N [--first K] [--concurrency C] [--kill-after A --kill-pgid G] --out F
      POSTs {"n": K..K+N-1} to URL, C at a time, one new connection each;
      after A answers, SIGKILLs process group G (the kill -9 test).
      Writes {"sent", "answers": {n: status or error}, "killed_after"} to F.
  rss --pgid G --out F
      samples the summed RSS of process group G every 50 ms until SIGTERM;
      writes the largest sum (KiB) to F.
  fsync DIR              fsync latency of the disk under DIR (context for the journal figures)
  rbk-burst DB           first accept .. last finish of the runs in an rbk journal
  rbk-serial DB          per-run time at --max-runs 1, over the runs that
                         started after the last one was accepted
  n8n-burst DB [--after-id I]  the same as rbk-burst for n8n's execution_entity
                         (executions after id I: the readiness probe made the first)
  kill-report --fired F --access-log L (--rbk-api URL | --n8n-db DB)
      the kill -9 outcome as JSON (see docs/performance.md for the terms).
"""
import argparse
import concurrent.futures
import datetime
import http.client
import json
import os
import re
import signal
import sqlite3
import sys
import threading
import time
import urllib.parse
import urllib.request


def fire(a):
    u = urllib.parse.urlsplit(a.url)
    answers = {}
    lock = threading.Lock()
    answered = [0]
    killed = [None]

    def one(n):
        body = json.dumps({"n": n})
        try:
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            c.request("POST", u.path, body=body, headers={"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            c.close()
            out = r.status
        except Exception as e:  # the server died: no answer
            out = type(e).__name__
        with lock:
            answers[n] = out
            if isinstance(out, int):
                answered[0] += 1
                if a.kill_after and killed[0] is None and answered[0] >= a.kill_after:
                    os.killpg(a.kill_pgid, signal.SIGKILL)
                    killed[0] = answered[0]

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(a.concurrency) as ex:
        list(ex.map(one, range(a.first, a.first + a.count)))
    took = time.monotonic() - t0
    with open(a.out, "w") as f:
        json.dump({"sent": a.count, "seconds": took, "killed_after": killed[0],
                   "answers": {str(k): v for k, v in answers.items()}}, f)
    codes = {}
    for v in answers.values():
        codes[str(v)] = codes.get(str(v), 0) + 1
    print(json.dumps({"sent": a.count, "seconds": round(took, 3), "answers": codes,
                      "killed_after": killed[0]}))


def rss(a):
    best = [0]
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    while not stop[0]:
        total = 0
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                if os.getpgid(int(p)) != a.pgid:
                    continue
                with open(f"/proc/{p}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
            except (OSError, ValueError):
                continue
        best[0] = max(best[0], total)
        with open(a.out, "w") as f:
            f.write(str(best[0]))
        time.sleep(0.05)


def fsync(a):
    """fsync latency of the disk under DIR: 200 appends of 4 KiB, each fsynced."""
    path = os.path.join(a.dir, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    times = []
    try:
        for _ in range(200):
            os.write(fd, b"x" * 4096)
            t = time.perf_counter()
            os.fsync(fd)
            times.append((time.perf_counter() - t) * 1000)
    finally:
        os.close(fd)
        os.unlink(path)
    times.sort()
    print(f"fsync p50 {times[99]:.2f} ms, p99 {times[197]:.2f} ms, max {times[-1]:.2f} ms")


def rbk_burst(a):
    c = sqlite3.connect(f"file:{a.db}?mode=ro", uri=True)
    states = dict(c.execute("SELECT state, count(*) FROM runs GROUP BY state").fetchall())
    first, last, n = c.execute(
        "SELECT min(created_at), max(finished_at), count(*) FROM runs WHERE state='succeeded'").fetchone()
    secs = (last - first) / 1000 if n else None
    print(json.dumps({"runs": states, "succeeded": n, "seconds": secs,
                      "runs_per_s": round(n / secs, 1) if secs else None}))


def rbk_serial(a):
    c = sqlite3.connect(f"file:{a.db}?mode=ro", uri=True)
    (last_accept,) = c.execute("SELECT max(created_at) FROM runs").fetchone()
    n, first, last = c.execute(
        "SELECT count(*), min(started_at), max(finished_at) FROM runs "
        "WHERE state='succeeded' AND started_at > ?", (last_accept,)).fetchone()
    own = c.execute("SELECT avg(finished_at - started_at) FROM runs WHERE state='succeeded'").fetchone()[0]
    per_run = (last - first) / (n - 1) if n and n > 1 else None
    print(json.dumps({"runs_measured": n, "ms_per_run": round(per_run, 4) if per_run else None,
                      "mean_run_duration_ms": own}))


def n8n_time(s):
    # n8n stores '2026-12-01 20:45:01.123' (UTC) in sqlite.
    return datetime.datetime.fromisoformat(s.replace("Z", "")).timestamp()


def n8n_burst(a):
    c = sqlite3.connect(f"file:{a.db}?mode=ro", uri=True)
    # Executions up to --after-id are the readiness probe's, not the burst's.
    states = dict(c.execute("SELECT status, count(*) FROM execution_entity WHERE id > ? GROUP BY status",
                            (a.after_id,)).fetchall())
    rows = c.execute("SELECT min(createdAt), max(stoppedAt), count(*) FROM execution_entity "
                     "WHERE status='success' AND id > ?", (a.after_id,)).fetchone()
    n = rows[2]
    secs = n8n_time(rows[1]) - n8n_time(rows[0]) if n else None
    print(json.dumps({"executions": states, "succeeded": n, "seconds": secs,
                      "executions_per_s": round(n / secs, 1) if secs else None}))


LOG = re.compile(r'^(\S+) (\S+) (\S+) (\d+)$')


def access_log(path):
    """n -> {"get1": count, "post": count, "post_keys": set, "get3": count}"""
    seen = {}
    with open(path) as f:
        for line in f:
            m = LOG.match(line.strip())
            if not m:
                continue
            verb, uri, key, _status = m.groups()
            p = urllib.parse.urlsplit(uri)
            q = urllib.parse.parse_qs(p.query)
            if verb == "GET" and p.path.startswith("/items/"):
                n = int(p.path.rsplit("/", 1)[1])
                kind = "get3" if "order" in q else "get1"
            elif verb == "POST" and p.path == "/orders":
                n = int(q["n"][0])
                kind = "post"
            else:
                continue
            e = seen.setdefault(n, {"get1": 0, "post": 0, "get3": 0, "post_keys": set()})
            e[kind] += 1
            if kind == "post" and key != "-":
                e["post_keys"].add(key)
    return seen


def kill_report(a):
    fired = json.load(open(a.fired))
    answers = {int(k): v for k, v in fired["answers"].items()}
    lo, hi = min(answers), max(answers)
    accepted = {n for n, v in answers.items() if v in (200, 201, 202)}
    runs = {}  # n -> final state (list when several runs carry the same n)
    if a.rbk_api:
        before = None
        for _ in range(100):
            q = f"{a.rbk_api}/api/runs?limit=500" + (f"&before={before}" if before else "")
            page = json.load(urllib.request.urlopen(q, timeout=30))
            for r in page["runs"]:
                runs.setdefault(int(r["args"]["n"]), []).append(r["state"])
            before = page["next_before"]
            if not before:
                break
    else:
        c = sqlite3.connect(f"file:{a.n8n_db}?mode=ro", uri=True)
        for eid, status in c.execute("SELECT id, status FROM execution_entity").fetchall():
            row = c.execute("SELECT data FROM execution_data WHERE executionId=?", (eid,)).fetchone()
            m = re.search(r'\{"n":(\d+)\}', row[0] if row else "")
            runs.setdefault(int(m.group(1)) if m else -eid, []).append(status)
    # Only the fired webhooks count (a readiness probe may have made a run).
    runs = {n: v for n, v in runs.items() if n < 0 or lo <= n <= hi}
    calls = {n: v for n, v in access_log(a.access_log).items() if lo <= n <= hi}
    ok_states = {"succeeded", "success"}
    rep = {
        "webhooks_sent": fired["sent"],
        "answered_accepted": len(accepted),
        "answered_other": sum(1 for v in answers.values() if isinstance(v, int) and v not in (200, 201, 202)),
        "not_answered": sum(1 for v in answers.values() if not isinstance(v, int)),
        "killed_after_answers": fired["killed_after"],
        "runs_recorded": sum(len(v) for v in runs.values()),
        "runs_by_state": {},
        "accepted_without_run": sorted(n for n in accepted if n not in runs),
        "accepted_with_several_runs": sorted(n for n in accepted if len(runs.get(n, [])) > 1),
        "runs_not_answered": sum(1 for n in runs if n not in accepted),
        "runs_all_calls_made_but_not_succeeded": 0,
        "runs_post_sent_but_not_succeeded": 0,
        "posts_sent_twice": 0,
        "posts_sent_twice_with_one_key": 0,
        "succeeded_but_calls_missing": 0,
        "calls_without_run": sorted(n for n in calls if n not in runs),
    }
    for n, states in runs.items():
        for s in states:
            rep["runs_by_state"][s] = rep["runs_by_state"].get(s, 0) + 1
        c = calls.get(n, {"get1": 0, "post": 0, "get3": 0, "post_keys": set()})
        complete = c["get1"] >= 1 and c["post"] >= 1 and c["get3"] >= 1
        if complete and not any(s in ok_states for s in states):
            rep["runs_all_calls_made_but_not_succeeded"] += 1
        if c["post"] >= 1 and not any(s in ok_states for s in states):
            rep["runs_post_sent_but_not_succeeded"] += 1
        if any(s in ok_states for s in states) and not complete:
            rep["succeeded_but_calls_missing"] += 1
        if c["post"] > 1:
            rep["posts_sent_twice"] += 1
            if len(c["post_keys"]) == 1:
                rep["posts_sent_twice_with_one_key"] += 1
    print(json.dumps(rep))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fire")
    f.add_argument("url")
    f.add_argument("--count", type=int, required=True)
    f.add_argument("--first", type=int, default=0)
    f.add_argument("--concurrency", type=int, default=64)
    f.add_argument("--kill-after", type=int, default=0)
    f.add_argument("--kill-pgid", type=int, default=0)
    f.add_argument("--out", required=True)
    r = sub.add_parser("rss")
    r.add_argument("--pgid", type=int, required=True)
    r.add_argument("--out", required=True)
    for name in ("rbk-burst", "rbk-serial", "n8n-burst"):
        sub.add_parser(name).add_argument("db")
    sub.choices["n8n-burst"].add_argument("--after-id", type=int, default=0)
    sub.add_parser("fsync").add_argument("dir")
    k = sub.add_parser("kill-report")
    k.add_argument("--fired", required=True)
    k.add_argument("--access-log", required=True)
    k.add_argument("--rbk-api")
    k.add_argument("--n8n-db")
    a = p.parse_args()
    {"fire": fire, "rss": rss, "rbk-burst": rbk_burst, "rbk-serial": rbk_serial,
     "n8n-burst": n8n_burst, "kill-report": kill_report, "fsync": fsync}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
