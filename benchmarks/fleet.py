"""``hcp bench fleet``: miners polled per second through asic-rs, with the concurrency bound vs
one at a time, on fake Antminers (bmminer RPC + web CGI with digest auth) on loopback addresses.

The fakes are the test suite's (``tests/fleet/fakes.py``), so this runs from a source checkout.
Each fake takes its own 127.x address (asic-rs has no port setting), so the machine needs root
for port 80 as the tests do.
"""

from __future__ import annotations

import asyncio
import time


def run_benchmark(miners: int, concurrency: int, latency_s: float = 0.05) -> dict:
    from ingestion.live.inventory import MinerTarget
    from ingestion.live.miners import MinerPool, poll_miners
    from tests.fleet.fakes import FakeAntminer

    fakes = [FakeAntminer(f"127.251.{i // 250}.{i % 250 + 2}", latency_s=latency_s) for i in range(miners)]
    for fake in fakes:
        fake.start()
    try:
        targets = [MinerTarget(f.ip, f"bench-{i}") for i, f in enumerate(fakes)]
        rows = {}
        for label, bound in (("one at a time", 1), (f"bound {concurrency}", concurrency)):
            pool = MinerPool(10.0)
            started = time.perf_counter()
            cold = asyncio.run(poll_miners(targets, pool, bound))  # identifies every miner, then reads it
            cold_s = time.perf_counter() - started
            started = time.perf_counter()
            warm = asyncio.run(
                poll_miners(targets, pool, bound)
            )  # handles reused, as a long-running poller does
            warm_s = time.perf_counter() - started
            ok = sum(r.state == "mining" for r in warm) + sum(r.state == "mining" for r in cold)
            rows[label] = {"concurrency": bound, "first_poll_s": round(cold_s, 3), "next_poll_s": round(warm_s, 3),
                           "miners_per_s_first": round(miners / cold_s, 1), "miners_per_s_next": round(miners / warm_s, 1),
                           "readings_ok": ok}  # fmt: skip
    finally:
        for fake in fakes:
            fake.stop()
    base, fig = rows["one at a time"], rows[f"bound {concurrency}"]
    return {"miners": miners, "latency_s": latency_s, "rows": rows,
            "ratio_next": round(fig["miners_per_s_next"] / base["miners_per_s_next"], 2),
            "ratio_first": round(fig["miners_per_s_first"] / base["miners_per_s_first"], 2)}  # fmt: skip


def format_table(result: dict) -> str:
    lines = [f"{'':16} {'first poll (identify+read)':>28} {'next polls (read)':>20}"]
    for label, row in result["rows"].items():
        lines.append(
            f"{label:16} {row['miners_per_s_first']:>20.1f} miners/s {row['miners_per_s_next']:>12.1f} miners/s"
        )
    lines.append(f"ratio (bound / one at a time): first {result['ratio_first']}x, next {result['ratio_next']}x "
                 f"on {result['miners']} fake miners answering in {result['latency_s'] * 1000:g} ms per request")  # fmt: skip
    return "\n".join(lines)
