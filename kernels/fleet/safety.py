"""Safety rules of the fleet controller, as pure functions over plain records (no I/O).

A machine is ``on`` when it does its job (an ASIC mines, a GPU serves inference) and ``off`` when
curtailed (an ASIC sleeps, a GPU is drained and power-capped). The plan says what each machine
should be; the rules decide what is actually commanded this interval:

1. ``plan_changes``: machines whose observed state differs from the plan (unreachable ones are left
   alone: a command cannot reach them and the next poll tells more);
2. ``hold_dwell``: a machine changed less than ``min_dwell`` ago is held back;
3. ``keep_committed_gpus``: never drain a pool below the GPUs committed to customers;
4. ``limit_changes``: at most ``max_changes`` machines per interval, curtailments first;
5. emergencies, which skip 2 and 4: ``cap_curtailment`` (a facility draws more than its power cap)
   and ``price_spike_curtailment`` (the real-time price crossed the spike limit) sleep ASICs now,
   and no machine of such a facility is switched on.

Power targets: a cap breach is first met by lowering the power target of miners whose firmware
takes one (down to ``trim_floor`` of nominal), so they keep hashing; only what trims cannot give is
slept, cheapest first. ``restore_power`` gives a trimmed miner its nominal power back once the
facility has room for it, as a plan change (dwell and the change limit apply).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

PLAN = "plan"
CAP = "curtail_power_cap"
SPIKE = "curtail_price_spike"


@dataclass(frozen=True)
class Machine:
    """What the controller knows of one machine. ``observed`` is on, off or unknown (unreachable);
    ``power_kw`` is the observed draw (nominal when running and not reported)."""

    device_id: str
    facility_id: str
    kind: str  # asic | gpu
    observed: str  # on | off | unknown
    power_kw: float
    pool: str | None = None
    last_change: datetime | None = None
    margin_usd: float = 0.0  # the plan's expected margin when on: the cheapest to curtail go first
    nominal_kw: float | None = None  # rated draw (the power a trimmed miner is restored to)
    can_target: bool = False  # the firmware takes a power target
    power_target_kw: float | None = None  # its current target, None = stock (nominal)

    @property
    def trimmed(self) -> bool:
        return (
            self.power_target_kw is not None
            and self.nominal_kw is not None
            and self.power_target_kw < self.nominal_kw - 1e-9
        )


@dataclass(frozen=True)
class Facility:
    facility_id: str
    cap_kw: float
    pue: float = 1.0
    price_usd_mwh: float | None = None  # latest real-time price at its node


@dataclass(frozen=True)
class SafetyLimits:
    max_changes: int = 20
    min_dwell: timedelta = timedelta(minutes=30)
    price_spike_usd_mwh: float = 1000.0
    trim_floor: float = 0.7  # lowest power target, as a share of nominal (1: never trim)


@dataclass(frozen=True)
class Change:
    device_id: str
    on: bool
    rule: str  # plan | curtail_power_cap | curtail_price_spike
    reason: str
    target_kw: float | None = None  # set: a power target (the machine stays on), not sleep or wake

    @property
    def target_watts(self) -> int | None:
        """The power target in whole watts, as firmwares take it (None: no target)."""
        return None if self.target_kw is None else round(self.target_kw * 1000)


@dataclass(frozen=True)
class Skipped:
    change: Change
    why: str


@dataclass
class Decision:
    changes: list[Change] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def plan_changes(
    machines: list[Machine], desired_on: dict[str, bool], reasons: dict[str, str] | None = None
) -> list[Change]:
    """A change for every reachable machine whose observed state is not the planned one."""
    reasons = reasons or {}
    changes = []
    for m in machines:
        want = desired_on.get(m.device_id)
        if want is None or m.observed == "unknown" or (m.observed == "on") == want:
            continue
        changes.append(Change(m.device_id, want, PLAN, reasons.get(m.device_id, "plan")))
    return changes


def hold_dwell(
    changes: list[Change], machines: dict[str, Machine], now: datetime, min_dwell: timedelta
) -> tuple[list[Change], list[Skipped]]:
    """Hold back machines that changed less than ``min_dwell`` before ``now``."""
    kept, skipped = [], []
    for c in changes:
        last = machines[c.device_id].last_change
        if last is not None and now - last < min_dwell:
            skipped.append(
                Skipped(
                    c,
                    f"changed {(now - last).total_seconds() / 60:.0f} min ago (dwell {min_dwell.total_seconds() / 60:.0f} min)",
                )
            )
        else:
            kept.append(c)
    return kept, skipped


def keep_committed_gpus(
    changes: list[Change], machines: dict[str, Machine], committed: dict[str, int]
) -> tuple[list[Change], list[Skipped]]:
    """Drop GPU drains that would leave a pool with fewer serving GPUs than committed; GPUs that
    are switched on in the same decision count towards the pool."""
    serving = Counter(m.pool for m in machines.values() if m.kind == "gpu" and m.observed == "on")
    for c in changes:
        m = machines[c.device_id]
        if m.kind == "gpu" and c.on:
            serving[m.pool] += 1
    kept, skipped = [], []
    for c in changes:
        m = machines[c.device_id]
        if m.kind == "gpu" and not c.on:
            floor = committed.get(m.pool, 0)
            if serving[m.pool] - 1 < floor:
                skipped.append(Skipped(c, f"pool {m.pool} would fall below {floor} committed GPUs"))
                continue
            serving[m.pool] -= 1
        kept.append(c)
    return kept, skipped


def limit_changes(
    changes: list[Change], machines: dict[str, Machine], max_changes: int
) -> tuple[list[Change], list[Skipped]]:
    """At most ``max_changes``: curtailments first (cheapest margin first), then switch-ons (best
    margin first)."""
    order = sorted(changes, key=lambda c: (c.on, machines[c.device_id].margin_usd * (-1 if c.on else 1)))
    kept = order[:max_changes]
    return kept, [
        Skipped(c, f"over the limit of {max_changes} changes per interval") for c in order[max_changes:]
    ]


def facility_draw_kw(machines: list[Machine], facility: Facility) -> float:
    """Power at the meter: running machines' draw times PUE."""
    return (
        sum(m.power_kw for m in machines if m.facility_id == facility.facility_id and m.observed == "on")
        * facility.pue
    )


def _trim_room_kw(m: Machine, trim_floor: float) -> float:
    """How far below its present draw a miner's power target may go."""
    if not m.can_target or trim_floor >= 1:
        return 0.0
    return max(0.0, m.power_kw - trim_floor * (m.nominal_kw or m.power_kw))


def cap_curtailment(machines: list[Machine], facility: Facility, trim_floor: float = 1.0) -> list[Change]:
    """Changes that bring the facility's draw back under its cap, or none when it is under: ASICs
    sleep (lowest margin first, then the largest draw) while the excess is more than power targets
    can take off the rest; the remainder is trimmed off the cheapest miners that take a target."""
    excess = facility_draw_kw(machines, facility) - facility.cap_kw
    if excess <= 0:
        return []
    awake = sorted(
        (m for m in machines
         if m.facility_id == facility.facility_id and m.kind == "asic" and m.observed == "on"),
        key=lambda m: (m.margin_usd, -m.power_kw),
    )  # fmt: skip
    reason = f"facility draw over its {facility.cap_kw:g} kW cap"
    changes = []
    while awake and excess > 1e-9 + facility.pue * sum(_trim_room_kw(m, trim_floor) for m in awake):
        m = awake.pop(0)
        changes.append(Change(m.device_id, False, CAP, reason))
        excess -= m.power_kw * facility.pue
    for m in awake:
        if excess <= 1e-9:
            break
        cut = min(_trim_room_kw(m, trim_floor), excess / facility.pue)
        if cut > 0:
            changes.append(Change(m.device_id, True, CAP, f"{reason}: power target", m.power_kw - cut))
            excess -= cut * facility.pue
    return changes


def restore_power(machines: list[Machine], facility: Facility, desired_on: dict[str, bool]) -> list[Change]:
    """Trimmed miners the plan wants on get their nominal power back while the facility stays
    under its cap (best margin first)."""
    room = facility.cap_kw - facility_draw_kw(machines, facility)
    changes = []
    trimmed = (m for m in machines
               if m.facility_id == facility.facility_id and m.observed == "on" and m.trimmed
               and desired_on.get(m.device_id, False))  # fmt: skip
    for m in sorted(trimmed, key=lambda m: -m.margin_usd):
        extra = (m.nominal_kw - m.power_kw) * facility.pue
        if extra <= room + 1e-9:
            changes.append(
                Change(m.device_id, True, PLAN, "restore full power: the facility has room", m.nominal_kw)
            )
            room -= max(extra, 0.0)
    return changes


def price_spike_curtailment(
    machines: list[Machine], facility: Facility, limit_usd_mwh: float
) -> list[Change]:
    """Every mining ASIC of the facility sleeps when its real-time price is at or over the limit."""
    if facility.price_usd_mwh is None or facility.price_usd_mwh < limit_usd_mwh:
        return []
    reason = f"real-time price {facility.price_usd_mwh:g} USD/MWh at or over {limit_usd_mwh:g}"
    return [
        Change(m.device_id, False, SPIKE, reason)
        for m in machines
        if m.facility_id == facility.facility_id and m.kind == "asic" and m.observed == "on"
    ]


def decide(
    machines: list[Machine],
    facilities: list[Facility],
    desired_on: dict[str, bool],
    committed: dict[str, int],
    limits: SafetyLimits,
    now: datetime,
    reasons: dict[str, str] | None = None,
) -> Decision:
    """All rules together: emergency curtailments (not delayed by dwell or the change limit), then
    the plan's changes through dwell, committed capacity and the change limit."""
    by_id = {m.device_id: m for m in machines}
    decision = Decision()
    emergency: dict[str, Change] = {}
    hot: set[str] = set()
    for f in facilities:
        spike = price_spike_curtailment(machines, f, limits.price_spike_usd_mwh)
        cap = [] if spike else cap_curtailment(machines, f, limits.trim_floor)
        if spike or cap or facility_draw_kw(machines, f) > f.cap_kw:
            hot.add(f.facility_id)
        for c in spike or cap:
            emergency[c.device_id] = c
    planned = []
    for c in plan_changes(machines, desired_on, reasons):
        if c.device_id in emergency:
            continue
        if c.on and by_id[c.device_id].facility_id in hot:
            decision.skipped.append(Skipped(c, "facility is being curtailed"))
            continue
        planned.append(c)
    for f in facilities:
        if f.facility_id not in hot:
            planned += restore_power(machines, f, desired_on)
    planned, held = hold_dwell(planned, by_id, now, limits.min_dwell)
    decision.skipped += held
    planned, held = keep_committed_gpus(planned, by_id, committed)
    decision.skipped += held
    planned, held = limit_changes(planned, by_id, limits.max_changes)
    decision.skipped += held
    decision.changes = list(emergency.values()) + planned
    return decision


def with_observed(machine: Machine, on: bool) -> Machine:
    """The machine as it will be once a change is applied (for follow-up checks)."""
    return replace(machine, observed="on" if on else "off")
