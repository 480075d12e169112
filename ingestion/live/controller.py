"""The fleet controller: the latest plan, through the safety rules, to device commands.

One run (``apply_plan``) reads what the platform knows (devices, facilities and latest prices from
staging, the latest poll from ``staging.stg_fleet__status``, the latest ``ops.allocation_plan``),
decides with :func:`kernels.fleet.decide` and records every decided and held-back command in
``ops.fleet_commands`` and the audit log. Dry-run is the default: commands are recorded as
``planned`` and nothing is sent. With ``execute`` they are sent (miners through asic-rs, GPUs
through the GPU adapter) and their results recorded. ``check_commands`` compares executed
commands with the next poll and raises ``ops.fleet_alerts`` where the machine is not as commanded.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb

from core.audit import write_audit
from ingestion.live.devices import GpuAdapter, HookAdapter, NoGpuAdapter, Outcome, command_miner
from ingestion.live.inventory import FleetSettings, Inventory
from ingestion.live.miners import MinerPool
from kernels.fleet import Change, Decision, Facility, Machine, SafetyLimits, decide
from kernels.fleet.safety import CAP, SPIKE

ON_STATES = {"asic": {"mining": "on", "sleeping": "off"}, "gpu": {"serving": "on", "idle": "on"}}
ACTIONS = {
    ("asic", True): "wake",
    ("asic", False): "sleep",
    ("gpu", True): "undrain",
    ("gpu", False): "drain",
}
EMERGENCY_RULES = (CAP, SPIKE)
EXPECTED = {"wake": "mining", "sleep": "sleeping", "power_target": "mining"}  # what the next poll should show
TARGET_SLACK = (1.05, 0.05)  # a miner at a power target may draw up to 5 % + 50 W over it


def action_of(machine: Machine, change: Change) -> str:
    """The device command of a change: a power target, or sleep/wake/drain/undrain."""
    return "power_target" if change.target_kw is not None else ACTIONS[(machine.kind, change.on)]


@dataclass
class ApplyResult:
    run_id: str
    mode: str
    interval_start: datetime | None
    plan_id: str | None
    decided: int = 0
    skipped: int = 0
    applied: int = 0
    failed: int = 0
    commands: list[dict] = field(default_factory=list)
    seconds: float = 0.0  # reading state, deciding, recording and sending, all told

    def to_dict(self) -> dict:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()}


def _plan(
    conn, now: datetime
) -> tuple[str | None, datetime | None, dict[str, bool], dict[str, str], dict[str, float]]:
    """(plan id, interval, desired on per device, reasons, margins) of the latest plan's interval
    that contains ``now`` (the first one when the plan starts later)."""
    row = conn.execute("select plan_id from ops.allocation_plans order by issued_at desc limit 1").fetchone()
    if row is None:
        return None, None, {}, {}, {}
    plan_id = row[0]
    interval = conn.execute(
        """select coalesce(max(interval_start) filter (where interval_start <= %s), min(interval_start))
           from ops.allocation_plan where plan_id = %s""",
        (now, plan_id),
    ).fetchone()[0]
    rows = conn.execute(
        """select device_id, mode, reason, expected_margin_usd::float8 from ops.allocation_plan
           where plan_id = %s and interval_start = %s""",
        (plan_id, interval),
    ).fetchall()
    desired = {d: mode != "curtailed" for d, mode, _, _ in rows}
    return (
        plan_id,
        interval,
        desired,
        {d: f"plan: {mode} ({why})" for d, mode, why, _ in rows},
        {d: m for d, _, _, m in rows},
    )


def _machines(conn, margins: dict[str, float]) -> list[Machine]:
    rows = conn.execute(
        """
        with last_poll as (
            select distinct on (device_id) device_id, state, power_kw, polled_at, controls
            from staging.stg_fleet__status order by device_id, polled_at desc
        ), last_change as (
            select distinct on (device_id) device_id, action, coalesce(finished_at, issued_at) as changed_at
            from ops.fleet_commands where mode = 'execute' and status in ('applied', 'pending')
            order by device_id, issued_at desc
        ), last_target as (  -- only targets we set are ours to restore (a rig's default is not a trim)
            select distinct on (device_id) device_id, (target ->> 'watts')::float8 / 1000 as target_kw
            from ops.fleet_commands where mode = 'execute' and status = 'applied' and action = 'power_target'
            order by device_id, issued_at desc
        )
        select d.device_id, d.facility_id, d.device_kind, d.gpu_pool, d.nominal_power_kw::float8,
               p.state, p.power_kw, c.action, c.changed_at, c.changed_at > p.polled_at as unpolled,
               'power_target' = any(coalesce(p.controls, '{}')), t.target_kw
        from staging.stg_raw__devices d
        left join last_poll p using (device_id)
        left join last_change c using (device_id)
        left join last_target t using (device_id)
        order by d.device_id
        """
    ).fetchall()
    machines = []
    for (device_id, facility, kind, pool, nominal, state, power, action, changed_at, unpolled,
         can_target, target_kw) in rows:  # fmt: skip
        observed = ON_STATES.get(kind, {}).get(state, "unknown")
        if kind == "gpu" and observed == "on" and action == "drain":
            observed = "off"  # a drained GPU still answers its exporter: the drain is what we know
        if unpolled and observed != "unknown":
            # Commanded since the last poll: until the next poll shows otherwise, the machine is as
            # commanded, so a machine just woken counts against a cap or a price spike at once.
            observed = "on" if action in ("wake", "undrain", "power_target") else "off"
            power = target_kw if action == "power_target" else None
        draw = power if power is not None and power == power else (nominal if observed == "on" else 0.0)
        machines.append(Machine(device_id, facility, kind, observed, float(draw or 0.0), pool, changed_at,
                                margins.get(device_id, 0.0), nominal, bool(can_target), target_kw))  # fmt: skip
    return machines


def _facilities(conn, now: datetime) -> list[Facility]:
    rows = conn.execute(
        """
        select f.facility_id, f.power_cap_kw::float8, f.pue::float8,
            (select p.price_usd_per_mwh::float8 from staging.stg_raw__energy_prices p
             where p.market = f.market and p.price_node_name = f.price_node_name and p.price_kind = 'rt'
               and p.interval_start_at <= %s and p.interval_end_at > %s - interval '1 hour'
             order by p.interval_start_at desc limit 1)
        from staging.stg_raw__facilities f order by 1
        """,
        (now, now),
    ).fetchall()
    return [Facility(f, cap, pue, price) for f, cap, pue, price in rows]


def _committed(conn, now: datetime) -> dict[str, int]:
    """GPUs reserved by active commitments per pool (billing.commitments)."""
    exists = conn.execute("select to_regclass('billing.commitments') is not null").fetchone()[0]
    if not exists:
        return {}
    rows = conn.execute(
        """select gpu_pool, sum(reserved_gpus)::int from billing.commitments
           where effective_from <= %s and (effective_to is null or effective_to > %s) group by 1""",
        (now, now),
    ).fetchall()
    return dict(rows)


def decide_now(
    conn, settings: FleetSettings, now: datetime
) -> tuple[Decision, str | None, datetime | None, list[Machine]]:
    plan_id, interval, desired, reasons, margins = _plan(conn, now)
    machines = _machines(conn, margins)
    limits = SafetyLimits(
        settings.max_changes,
        timedelta(minutes=settings.min_dwell_minutes),
        settings.price_spike_usd_mwh,
        settings.min_power_target_pct / 100,
    )
    decision = decide(machines, _facilities(conn, now), desired, _committed(conn, now), limits, now, reasons)
    return decision, plan_id, interval, machines


def apply_trigger(url: str, settings: FleetSettings, now: datetime | None = None) -> tuple[str, str] | None:
    """The controller run due now, as (run key, trigger), or None when nothing is to change.

    The key is the interval and the set of decided changes, so a sensor asking every few seconds
    starts each run once, and a new poll, plan interval, expired dwell or emergency (a facility over
    its power cap, a price spike) gives a new key. The trigger is ``emergency`` when any change
    is an emergency curtailment, else ``plan``.
    """
    now = now or datetime.now(UTC)
    with psycopg.connect(url, autocommit=True) as conn:
        decision, _, interval, _ = decide_now(conn, settings, now)
    if not decision.changes:
        return None
    changes = sorted((c.device_id, c.on, c.rule, c.target_watts) for c in decision.changes)
    digest = hashlib.sha256(json.dumps(changes).encode()).hexdigest()[:16]
    trigger = "emergency" if any(c.rule in EMERGENCY_RULES for c in decision.changes) else "plan"
    return f"{trigger}:{(interval or now):%Y%m%dT%H%M}:{digest}", trigger


def _record(
    conn, run_id: str, interval, machine: Machine, change: Change, mode: str, status: str, why: str | None
) -> int:
    action = action_of(machine, change)
    target = {} if change.target_watts is None else {"watts": change.target_watts}
    reason = change.reason if why is None else f"{change.reason}; held back: {why}"
    command_id = conn.execute(
        """insert into ops.fleet_commands (run_id, interval_start, device_id, facility_id, action, target, rule,
               reason, mode, status) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) returning command_id""",
        (
            run_id,
            interval,
            machine.device_id,
            machine.facility_id,
            action,
            Jsonb(target),
            change.rule,
            reason,
            mode,
            status,
        ),
    ).fetchone()[0]
    write_audit(conn, f"fleet.command.{status}", f"device:{machine.device_id}",
                before={"observed": machine.observed},
                after={"command_id": command_id, "action": action, "rule": change.rule, "mode": mode, "reason": reason})  # fmt: skip
    return command_id


def apply_plan(
    url: str,
    inventory: Inventory,
    settings: FleetSettings,
    *,
    execute: bool = False,
    now: datetime | None = None,
    pool: MinerPool | None = None,
    gpu_adapter: GpuAdapter | None = None,
) -> ApplyResult:
    """One controller run; dry-run unless ``execute``."""
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    mode = "execute" if execute else "dry_run"
    run_id = uuid.uuid4().hex[:12]
    with psycopg.connect(url, autocommit=True) as conn:
        decision, plan_id, interval, machines = decide_now(conn, settings, now)
        by_id = {m.device_id: m for m in machines}
        result = ApplyResult(run_id, mode, interval, plan_id, len(decision.changes), len(decision.skipped))
        with conn.transaction():
            for skipped in decision.skipped:
                _record(
                    conn,
                    run_id,
                    interval,
                    by_id[skipped.change.device_id],
                    skipped.change,
                    mode,
                    "skipped",
                    skipped.why,
                )
            todo = [
                (
                    _record(
                        conn,
                        run_id,
                        interval,
                        by_id[c.device_id],
                        c,
                        mode,
                        "pending" if execute else "planned",
                        None,
                    ),
                    c,
                )
                for c in decision.changes
            ]
        if execute and todo:
            outcomes = _send(todo, by_id, inventory, settings, pool, gpu_adapter)
            for (command_id, change), outcome in zip(todo, outcomes, strict=True):
                status = "applied" if outcome.ok else "failed"
                conn.execute(
                    "update ops.fleet_commands set status = %s, result = %s, finished_at = now() where command_id = %s",
                    (status, outcome.result, command_id),
                )
                write_audit(conn, f"fleet.command.{status}", f"device:{change.device_id}",
                            after={"command_id": command_id, "result": outcome.result})  # fmt: skip
                result.applied += outcome.ok
                result.failed += not outcome.ok
        result.commands = [
            {
                "device_id": c.device_id,
                "action": action_of(by_id[c.device_id], c),
                "target_w": c.target_watts,
                "rule": c.rule,
                "reason": c.reason,
            }
            for _, c in todo
        ]
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def _send(todo, by_id, inventory: Inventory, settings: FleetSettings, pool, gpu_adapter) -> list[Outcome]:
    addresses = {t.device_id: t.address for t in inventory.miners if t.device_id}
    pool = pool or MinerPool(settings.timeout_s, inventory.logins)
    gpu_adapter = gpu_adapter or (HookAdapter(settings.gpu_hook) if settings.gpu_hook else NoGpuAdapter())
    gate = asyncio.Semaphore(settings.concurrency)

    async def one(change: Change) -> Outcome:
        machine = by_id[change.device_id]
        async with gate:
            if machine.kind == "asic":
                address = addresses.get(change.device_id)
                if address is None:
                    return Outcome(False, "no address in the inventory")
                if change.target_kw is not None:
                    return await command_miner(pool, address, "power_target", change.target_watts)
                return await command_miner(pool, address, "wake" if change.on else "sleep")
            if change.on:
                capped = await asyncio.to_thread(gpu_adapter.power_cap, change.device_id, None)
                drained = await asyncio.to_thread(gpu_adapter.undrain, change.device_id)
            else:
                drained = await asyncio.to_thread(gpu_adapter.drain, change.device_id)
                capped = await asyncio.to_thread(
                    gpu_adapter.power_cap, change.device_id, settings.gpu_idle_cap_w
                )
            return Outcome(drained.ok and capped.ok, f"drain: {drained.result}; power cap: {capped.result}")

    async def run() -> list[Outcome]:
        return list(await asyncio.gather(*(one(c) for _, c in todo)))

    return asyncio.run(run())


def check_commands(url: str) -> int:
    """Compare executed ASIC commands with the first poll after them; raise an alert for each
    mismatch, unreachable machine or failed command. Returns the number of alerts raised."""
    raised = 0
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        rows = conn.execute(
            """
            select c.command_id, c.device_id, c.action, c.status, c.result, s.state, s.power_kw,
                (c.target ->> 'watts')::float8 / 1000
            from ops.fleet_commands c
            left join lateral (
                select s.state, s.power_kw from staging.stg_fleet__status s
                where s.device_id = c.device_id and s.polled_at > c.finished_at
                order by s.polled_at limit 1
            ) s on true
            where c.mode = 'execute' and c.status in ('applied', 'failed') and c.checked_at is null
            order by c.command_id
            """
        ).fetchall()
        for command_id, device_id, action, status, result, observed, power_kw, target_kw in rows:
            if status == "failed":
                alert = ("command_failed", action, observed, result)
            elif observed is None:
                continue  # no poll since the command: checked next time
            elif action in EXPECTED and observed == "unreachable":
                alert = ("unreachable", EXPECTED[action], observed, None)
            elif action in EXPECTED and observed != EXPECTED[action]:
                alert = ("state_mismatch", EXPECTED[action], observed, None)
            elif target_kw is not None and power_kw is not None and power_kw > _over_target(target_kw):
                alert = ("state_mismatch", f"at most {target_kw * 1000:.0f} W", f"{power_kw * 1000:.0f} W",
                         "the miner draws more than its power target")  # fmt: skip
            else:
                alert = None
            if alert is not None:
                kind, commanded, seen, detail = alert
                conn.execute(
                    """insert into ops.fleet_alerts (command_id, device_id, kind, commanded, observed, detail)
                       values (%s, %s, %s, %s, %s, %s)""",
                    (command_id, device_id, kind, commanded, seen, detail),
                )
                write_audit(conn, f"fleet.alert.{kind}", f"device:{device_id}",
                            after={"command_id": command_id, "commanded": commanded, "observed": seen})  # fmt: skip
                raised += 1
            conn.execute(
                "update ops.fleet_commands set checked_at = now() where command_id = %s", (command_id,)
            )
    return raised


def _over_target(target_kw: float) -> float:
    share, kw = TARGET_SLACK
    return target_kw * share + kw


def summary(result: ApplyResult) -> str:
    return json.dumps(result.to_dict(), default=str)
