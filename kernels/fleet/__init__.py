"""Fleet control rules: which machines change state this interval, and which are held back."""

from kernels.fleet.safety import (
    Change,
    Decision,
    Facility,
    Machine,
    SafetyLimits,
    Skipped,
    cap_curtailment,
    decide,
    hold_dwell,
    keep_committed_gpus,
    limit_changes,
    plan_changes,
    price_spike_curtailment,
    restore_power,
)

__all__ = [
    "Change", "Decision", "Facility", "Machine", "SafetyLimits", "Skipped", "cap_curtailment", "decide",
    "hold_dwell", "keep_committed_gpus", "limit_changes", "plan_changes", "price_spike_curtailment",
    "restore_power",
]  # fmt: skip
