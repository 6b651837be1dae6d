#!/usr/bin/env python3
"""psycopg 3 with prepare_threshold=0 (every query a named prepared statement) from many
threads, each on its own connection; every result is checked. Exit 0 when all are right."""
import os
import sys
import threading

import psycopg

WORKERS = int(sys.argv[1]) if len(sys.argv) > 1 else 8
ITERATIONS = int(sys.argv[2]) if len(sys.argv) > 2 else 40
failures = []


def work(worker):
    try:
        with psycopg.connect(prepare_threshold=0, autocommit=True) as conn:
            for i in range(ITERATIONS):
                got = conn.execute("select %s::int * 2 + 1", (i,), prepare=True).fetchone()[0]
                if got != i * 2 + 1:
                    raise AssertionError(f"select i*2+1 for {i}: got {got}")
                got = conn.execute("select %s::text || %s::text", (f"w{worker}", f"-{i}"), prepare=True).fetchone()[0]
                if got != f"w{worker}-{i}":
                    raise AssertionError(f"concat for worker {worker}, {i}: got {got!r}")
                if i % 5 == 0:  # a transaction of prepared statements
                    with conn.transaction():
                        a = conn.execute("select %s::int + 100", (i,), prepare=True).fetchone()[0]
                        b = conn.execute("select %s::int * 2 + 1", (a,), prepare=True).fetchone()[0]
                    if (a, b) != (i + 100, (i + 100) * 2 + 1):
                        raise AssertionError(f"transaction for {i}: got {(a, b)}")
    except Exception as error:  # reported below, with which worker
        failures.append(f"worker {worker}: {type(error).__name__}: {error}")


threads = [threading.Thread(target=work, args=(w,)) for w in range(WORKERS)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join(timeout=120)
if any(thread.is_alive() for thread in threads):
    failures.append("a worker did not finish within 120 s")
if failures:
    print("psycopg3_prepared: FAILED\n" + "\n".join(failures[:20]), file=sys.stderr)
    sys.exit(1)
print(f"ok: psycopg {psycopg.__version__}, {WORKERS} threads x {ITERATIONS} iterations, every result right")
