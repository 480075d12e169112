"""Sensible billing defaults for the simulated customers (``hcp billing seed``): budgets for all,
a graduated and a volume price plan, a committed-use contract, prepaid credits, a discount, and a
colocation contract per colocation customer. Idempotent: existing rows are kept. Each price or
contract change is audited."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import psycopg

from billing.budgets import set_budget
from core.audit import write_audit

SINCE = datetime(2020, 1, 1, tzinfo=UTC)  # before any simulated data: applies to every period
H100, L40S = "NVIDIA H100 80GB HBM3", "NVIDIA L40S"
D = Decimal


def _insert(conn, table: str, row: dict, actor: str | None) -> bool:
    columns = ", ".join(row)
    marks = ", ".join(["%s"] * len(row))
    done = conn.execute(
        f"insert into billing.{table} ({columns}) values ({marks}) on conflict do nothing returning 1",
        tuple(row.values()),
    ).fetchone()
    if done and table not in ("price_plan_tiers",):
        write_audit(
            conn,
            "rate.change" if table != "credits" else "credit.grant",
            f"billing.{table}",
            None,
            row,
            actor,
        )
    return bool(done)


def seed_defaults(conn: psycopg.Connection, actor: str | None = None) -> dict[str, int]:
    """Write the defaults for the customers (staging.stg_raw__customers); returns rows added per table."""
    customers = conn.execute(
        "select customer_id, customer_type from staging.stg_raw__customers order by customer_id"
    ).fetchall()
    gpu = [c for c, kind in customers if kind != "colocation"]
    colo = [c for c, kind in customers if kind == "colocation"]
    added: dict[str, int] = {}

    def add(table: str, row: dict) -> None:
        added[table] = added.get(table, 0) + int(_insert(conn, table, row, actor))

    with conn.transaction():
        for cid in gpu + colo:
            exists = conn.execute("select 1 from billing.budgets where customer_id = %s", (cid,)).fetchone()
            if not exists:
                set_budget(conn, cid, D("25000.00") if cid in gpu else D("40000.00"), SINCE, actor)
                added["budgets"] = added.get("budgets", 0) + 1
        if len(gpu) > 1:
            add(
                "price_plans",
                {
                    "plan_id": "plan-grad-h100-batch",
                    "customer_id": gpu[1],
                    "gpu_model": H100,
                    "workload_type": "batch",
                    "pricing_model": "graduated",
                    "effective_from": SINCE,
                },
            )
            for no, up_to, price in (
                (1, D("500"), D("1.99")),
                (2, D("2000"), D("1.79")),
                (3, None, D("1.59")),
            ):
                add(
                    "price_plan_tiers",
                    {
                        "plan_id": "plan-grad-h100-batch",
                        "tier_no": no,
                        "up_to_gpu_hours": up_to,
                        "unit_price_usd_per_gpu_hour": price,
                    },
                )
        if len(gpu) > 2:
            add(
                "price_plans",
                {
                    "plan_id": "plan-vol-l40s-inference",
                    "customer_id": gpu[2],
                    "gpu_model": L40S,
                    "workload_type": "inference",
                    "pricing_model": "volume",
                    "effective_from": SINCE,
                },
            )
            for no, up_to, price in (
                (1, D("1000"), D("0.99")),
                (2, D("5000"), D("0.89")),
                (3, None, D("0.79")),
            ):
                add(
                    "price_plan_tiers",
                    {
                        "plan_id": "plan-vol-l40s-inference",
                        "tier_no": no,
                        "up_to_gpu_hours": up_to,
                        "unit_price_usd_per_gpu_hour": price,
                    },
                )
        if gpu:
            add(
                "commitments",
                {
                    "commitment_id": f"commit-{gpu[0]}-h100",
                    "customer_id": gpu[0],
                    "gpu_pool": "h100",
                    "reserved_gpus": 4,
                    "rate_usd_per_gpu_hour": D("1.89"),
                    "effective_from": SINCE,
                },
            )
        if len(gpu) > 3:
            add(
                "credits",
                {
                    "credit_id": f"credit-{gpu[3]}-welcome",
                    "customer_id": gpu[3],
                    "amount_usd": D("500.00"),
                    "granted_at": SINCE,
                    "note": "prepaid welcome credit",
                },
            )
        if len(gpu) > 4:
            add("discounts", {"customer_id": gpu[4], "percent": D("5.00"), "effective_from": SINCE})
        racks = conn.execute(
            """select facility_id, rack from staging.stg_raw__devices
               where device_kind = 'asic' and rack is not null group by facility_id, rack order by facility_id, rack"""
        ).fetchall()
        for cid, (facility, rack) in zip(colo, racks, strict=False):
            add(
                "colocation_contracts",
                {
                    "contract_id": f"colo-{cid}",
                    "customer_id": cid,
                    "facility_id": facility,
                    "rack": rack,
                    "adder_usd_per_mwh": D("12.0000"),
                    "effective_from": SINCE,
                },
            )
    return added
