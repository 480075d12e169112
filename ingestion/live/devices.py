"""Commands to machines: ASICs through asic-rs, GPUs through a pluggable adapter.

GPU adapter interface (:class:`GpuAdapter`): three calls, each returning a :class:`Outcome`:
``drain(device_id)`` takes the GPU out of the inference pool (no new work; running work finishes
or moves), ``undrain(device_id)`` puts it back, ``power_cap(device_id, watts)`` sets its power limit
(``None`` lifts it). :class:`HookAdapter` runs an operator's command for each call, so any
scheduler can be plugged in (a Kubernetes cordon, a Slurm drain, ``nvidia-smi -pl``)::

    <hook> drain <device_id>            # exit 0 = done; stdout is recorded as the result
    <hook> undrain <device_id>
    <hook> power_cap <device_id> <watts|none>
"""

from __future__ import annotations

import asyncio
import shlex
import subprocess
from dataclasses import dataclass
from typing import Protocol

from ingestion.live.miners import MinerPool


@dataclass(frozen=True)
class Outcome:
    ok: bool
    result: str


class GpuAdapter(Protocol):
    def drain(self, device_id: str) -> Outcome: ...
    def undrain(self, device_id: str) -> Outcome: ...
    def power_cap(self, device_id: str, watts: float | None) -> Outcome: ...


class HookAdapter:
    """A :class:`GpuAdapter` that runs ``command`` (a shell-style string) with the call appended."""

    def __init__(self, command: str, timeout_s: float = 60.0):
        self.argv = shlex.split(command)
        self.timeout_s = timeout_s

    def _run(self, *args: str) -> Outcome:
        try:
            done = subprocess.run(
                [*self.argv, *args], capture_output=True, text=True, timeout=self.timeout_s, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            return Outcome(False, f"hook did not run: {err}")
        text = (done.stdout.strip() or done.stderr.strip())[-500:]
        return Outcome(
            done.returncode == 0, text if done.returncode == 0 else f"exit {done.returncode}: {text}"
        )

    def drain(self, device_id: str) -> Outcome:
        return self._run("drain", device_id)

    def undrain(self, device_id: str) -> Outcome:
        return self._run("undrain", device_id)

    def power_cap(self, device_id: str, watts: float | None) -> Outcome:
        return self._run("power_cap", device_id, "none" if watts is None else f"{watts:g}")


class NoGpuAdapter:
    """No GPU adapter configured: every GPU command fails with a clear reason."""

    def _none(self, *_args) -> Outcome:
        return Outcome(False, "no GPU adapter configured (HCP_FLEET_GPU_HOOK)")

    drain = undrain = power_cap = _none


async def command_miner(pool: MinerPool, address: str, action: str, watts: float | None = None) -> Outcome:
    """``sleep``, ``wake`` or ``power_target`` on the miner at ``address`` through asic-rs; a
    firmware without the feature is a failed outcome that says so."""
    try:
        miner = await pool.get(address)
        if miner is None:
            return Outcome(False, "no miner identified at this address")
        if action == "sleep":
            if not miner.supports_pause:
                return Outcome(False, f"unsupported: {miner.firmware} cannot pause")
            ok = await asyncio.wait_for(miner.pause(), pool.timeout_s)
        elif action == "wake":
            if not miner.supports_resume:
                return Outcome(False, f"unsupported: {miner.firmware} cannot resume")
            ok = await asyncio.wait_for(miner.resume(), pool.timeout_s)
        elif action == "power_target":
            if not miner.supports_set_power_limit:
                return Outcome(False, f"unsupported: {miner.firmware} has no power target")
            ok = await asyncio.wait_for(miner.set_power_limit(float(watts)), pool.timeout_s)
        else:
            return Outcome(False, f"unknown miner action {action!r}")
    except (TimeoutError, OSError, RuntimeError, ValueError) as err:
        pool.forget(address)
        return Outcome(False, f"{type(err).__name__}: {err}")
    return Outcome(bool(ok), "ok" if ok else "the miner refused the command")
