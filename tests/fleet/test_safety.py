"""Every safety rule of the fleet controller, on small hand-made fleets."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from kernels.fleet import (
    Facility,
    Machine,
    SafetyLimits,
    cap_curtailment,
    decide,
    hold_dwell,
    keep_committed_gpus,
    limit_changes,
    plan_changes,
    price_spike_curtailment,
)
from kernels.fleet.safety import CAP, PLAN, SPIKE, Change

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def asic(
    i: int,
    observed: str = "on",
    power: float = 3.5,
    margin: float = 1.0,
    last: datetime | None = None,
    facility: str = "f1",
):
    return Machine(f"a{i}", facility, "asic", observed, power, last_change=last, margin_usd=margin)


def gpu(i: int, observed: str = "on", pool: str = "h100"):
    return Machine(f"g{i}", "f1", "gpu", observed, 0.7, pool=pool)


def test_plan_changes_only_where_observed_differs_and_never_for_unreachable():
    machines = [asic(1, "on"), asic(2, "off"), asic(3, "unknown"), asic(4, "on")]
    changes = plan_changes(machines, {"a1": False, "a2": True, "a3": True, "a4": True})
    assert [(c.device_id, c.on, c.rule) for c in changes] == [("a1", False, PLAN), ("a2", True, PLAN)]


def test_dwell_holds_recently_changed_machines():
    machines = {
        m.device_id: m
        for m in [asic(1, last=NOW - timedelta(minutes=10)), asic(2, last=NOW - timedelta(hours=2)), asic(3)]
    }
    changes = [Change(d, False, PLAN, "") for d in machines]
    kept, skipped = hold_dwell(changes, machines, NOW, timedelta(minutes=30))
    assert [c.device_id for c in kept] == ["a2", "a3"]
    assert skipped[0].change.device_id == "a1" and "10 min ago" in skipped[0].why


def test_never_below_committed_gpus():
    machines = {m.device_id: m for m in [gpu(1), gpu(2), gpu(3), gpu(4, "off")]}
    drains = [Change(d, False, PLAN, "") for d in ("g1", "g2", "g3")]
    kept, skipped = keep_committed_gpus(drains, machines, {"h100": 2})
    assert [c.device_id for c in kept] == ["g1"]  # 3 serving, 2 committed: one may go
    assert len(skipped) == 2 and "below 2 committed" in skipped[0].why
    # a GPU switched on in the same decision makes room for one more drain
    kept, _ = keep_committed_gpus([*drains, Change("g4", True, PLAN, "")], machines, {"h100": 2})
    assert [c.device_id for c in kept] == ["g1", "g2", "g4"]


def test_change_limit_keeps_curtailments_first():
    machines = {
        m.device_id: m
        for m in [asic(1, "off", margin=5), asic(2, margin=3), asic(3, margin=-2), asic(4, "off", margin=9)]
    }
    changes = [
        Change("a1", True, PLAN, ""),
        Change("a2", False, PLAN, ""),
        Change("a3", False, PLAN, ""),
        Change("a4", True, PLAN, ""),
    ]
    kept, skipped = limit_changes(changes, machines, 3)
    assert [(c.device_id, c.on) for c in kept] == [("a3", False), ("a2", False), ("a4", True)]
    assert [s.change.device_id for s in skipped] == ["a1"]


def test_power_cap_breach_curtails_until_under_the_cap():
    machines = [
        asic(1, power=3.0, margin=2),
        asic(2, power=3.0, margin=1),
        asic(3, power=3.0, margin=3),
        gpu(1),
    ]
    facility = Facility("f1", cap_kw=7.0, pue=1.0)  # draws 9.7 kW
    changes = cap_curtailment(machines, facility)
    assert [(c.device_id, c.rule) for c in changes] == [("a2", CAP)]  # 3 kW off: 6.7 kW <= 7
    assert cap_curtailment(machines, Facility("f1", cap_kw=10.0)) == []
    assert len(cap_curtailment(machines, Facility("f1", cap_kw=7.0, pue=1.3))) == 2  # PUE counts


def test_price_spike_curtails_every_mining_asic_of_the_facility():
    machines = [asic(1), asic(2, "off"), asic(3, facility="f2"), gpu(1)]
    assert price_spike_curtailment(machines, Facility("f1", 100, price_usd_mwh=999), 1000) == []
    changes = price_spike_curtailment(machines, Facility("f1", 100, price_usd_mwh=1000), 1000)
    assert [(c.device_id, c.rule) for c in changes] == [("a1", SPIKE)]


def test_decide_emergency_skips_dwell_and_limit_and_blocks_switch_ons():
    recent = NOW - timedelta(minutes=1)
    machines = [
        asic(1, last=recent, power=5),
        asic(2, last=recent, power=5),
        asic(3, "off"),
        asic(9, "off", facility="f2"),
    ]
    facilities = [
        Facility("f1", cap_kw=100, price_usd_mwh=2500),
        Facility("f2", cap_kw=100, price_usd_mwh=30),
    ]
    limits = SafetyLimits(max_changes=1, min_dwell=timedelta(minutes=30), price_spike_usd_mwh=1000)
    decision = decide(machines, facilities, {"a1": True, "a2": True, "a3": True, "a9": True}, {}, limits, NOW)
    assert sorted((c.device_id, c.on, c.rule) for c in decision.changes) == [
        ("a1", False, SPIKE), ("a2", False, SPIKE), ("a9", True, PLAN),
    ]  # fmt: skip
    assert [(s.change.device_id, s.why) for s in decision.skipped] == [("a3", "facility is being curtailed")]


def test_decide_applies_dwell_commitment_and_limit_to_the_plan():
    machines = [asic(1, last=NOW - timedelta(minutes=5)), asic(2), asic(3), gpu(1), gpu(2)]
    decision = decide(
        machines, [Facility("f1", cap_kw=1000)], {"a1": False, "a2": False, "a3": False, "g1": False, "g2": False},
        {"h100": 1}, SafetyLimits(max_changes=2), NOW,
    )  # fmt: skip
    assert len(decision.changes) == 2 and all(c.rule == PLAN and not c.on for c in decision.changes)
    whys = sorted(s.why.split(" ")[0] for s in decision.skipped)
    assert whys == ["changed", "over", "pool"]


def capable(i: int, power: float = 3.5, margin: float = 1.0, target: float | None = None, **kw):
    """An ASIC whose firmware takes power targets (nominal 3.5 kW)."""
    return replace(asic(i, power=power, margin=margin, **kw), nominal_kw=3.5, can_target=True,
                   power_target_kw=target)  # fmt: skip


def test_cap_breach_trims_power_targets_before_sleeping_anyone():
    machines = [capable(1, margin=2), capable(2, margin=1), asic(3, margin=0)]
    changes = cap_curtailment(machines, Facility("f1", cap_kw=10.0), trim_floor=0.7)  # 10.5 kW drawn
    # the cheapest miner that takes a target is trimmed by the excess; the one without is left alone
    assert [(c.device_id, c.on, c.rule, c.target_kw) for c in changes] == [("a2", True, CAP, 3.0)]


def test_cap_breach_beyond_what_trims_can_give_sleeps_first_then_trims_the_rest():
    machines = [capable(1, margin=1), capable(2, margin=2), capable(3, margin=3)]
    # 10.5 kW against 6.5: trims give at most 3 x 1.05 = 3.15 kW, so one must sleep (the cheapest);
    # the 0.5 kW left is trimmed from the next cheapest, not spread over every miner
    changes = cap_curtailment(machines, Facility("f1", cap_kw=6.5), trim_floor=0.7)
    got = [(c.device_id, c.on, None if c.target_kw is None else round(c.target_kw, 6)) for c in changes]
    assert got == [("a1", False, None), ("a2", True, 3.0)]


def test_no_trim_below_the_floor_and_none_when_trimming_is_off():
    machines = [capable(1), capable(2)]
    assert [c.on for c in cap_curtailment(machines, Facility("f1", cap_kw=6.9), trim_floor=1.0)] == [False]
    trimmed = cap_curtailment([capable(1, power=2.6)], Facility("f1", cap_kw=2.0), trim_floor=0.7)
    assert [(c.on, c.target_kw) for c in trimmed] == [(False, None)]  # 2.45 kW floor > 2 kW cap: sleep


def test_a_trimmed_miner_gets_its_full_power_back_when_the_facility_has_room():
    limits = SafetyLimits(min_dwell=timedelta(minutes=30))
    trimmed = capable(1, power=3.0, target=3.0, last=NOW - timedelta(hours=1))
    machines = [trimmed, asic(2)]
    decision = decide(machines, [Facility("f1", cap_kw=7.0)], {"a1": True, "a2": True}, {}, limits, NOW)
    assert [(c.device_id, c.on, c.rule, c.target_kw) for c in decision.changes] == [("a1", True, PLAN, 3.5)]
    # no room for the 0.5 kW back (6.5 drawn, cap 6.8): it stays trimmed
    decision = decide(machines, [Facility("f1", cap_kw=6.8)], {"a1": True, "a2": True}, {}, limits, NOW)
    assert decision.changes == [] and decision.skipped == []
    # trimmed 10 minutes ago: the dwell holds the restore back
    recent = [replace(trimmed, last_change=NOW - timedelta(minutes=10)), asic(2)]
    decision = decide(recent, [Facility("f1", cap_kw=7.0)], {"a1": True, "a2": True}, {}, limits, NOW)
    assert decision.changes == [] and "10 min ago" in decision.skipped[0].why
    # the plan wants it asleep: it sleeps, no restore first
    decision = decide(machines, [Facility("f1", cap_kw=7.0)], {"a1": False, "a2": True}, {}, limits, NOW)
    assert [(c.device_id, c.on, c.target_kw) for c in decision.changes] == [("a1", False, None)]
