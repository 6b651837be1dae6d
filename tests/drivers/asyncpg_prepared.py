#!/usr/bin/env python3
"""asyncpg with its default statement cache (named prepared statements) from many tasks,
each on its own connection; every result is checked. Exit 0 when all are right."""
import asyncio
import sys

import asyncpg

WORKERS = int(sys.argv[1]) if len(sys.argv) > 1 else 8
ITERATIONS = int(sys.argv[2]) if len(sys.argv) > 2 else 40


async def work(worker):
    conn = await asyncpg.connect()  # PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE
    try:
        for i in range(ITERATIONS):
            got = await conn.fetchval("select $1::int * 2 + 1", i)
            if got != i * 2 + 1:
                raise AssertionError(f"select i*2+1 for {i}: got {got}")
            row = await conn.fetchrow("select $1::text || $2::text as s, $3::int as n", f"w{worker}", f"-{i}", i)
            if (row["s"], row["n"]) != (f"w{worker}-{i}", i):
                raise AssertionError(f"row for worker {worker}, {i}: got {tuple(row)}")
            if i % 5 == 0:
                async with conn.transaction():
                    a = await conn.fetchval("select $1::int + 100", i)
                    b = await conn.fetchval("select $1::int * 2 + 1", a)
                if (a, b) != (i + 100, (i + 100) * 2 + 1):
                    raise AssertionError(f"transaction for {i}: got {(a, b)}")
        statement = await conn.prepare("select $1::int - 1")  # an explicit named statement
        for i in range(ITERATIONS):
            if await statement.fetchval(i) != i - 1:
                raise AssertionError(f"explicit statement for {i}")
    finally:
        await conn.close()


async def main():
    results = await asyncio.wait_for(asyncio.gather(*(work(w) for w in range(WORKERS)), return_exceptions=True), 120)
    failures = [f"worker {w}: {type(r).__name__}: {r}" for w, r in enumerate(results) if isinstance(r, BaseException)]
    if failures:
        print("asyncpg_prepared: FAILED\n" + "\n".join(failures[:20]), file=sys.stderr)
        sys.exit(1)
    print(f"ok: asyncpg {asyncpg.__version__}, {WORKERS} tasks x {ITERATIONS} iterations, every result right")


asyncio.run(main())
