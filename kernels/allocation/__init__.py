"""Allocation kernel: which ASICs and GPUs run in each interval under power caps and GPU demand.

Exports load lazily (``kernels._lazy``): the solver's numba and the reference's scipy are imported
when first used."""

from typing import TYPE_CHECKING

from kernels._lazy import attach

if TYPE_CHECKING:
    from kernels.allocation.evaluate import evaluate
    from kernels.allocation.generate import generate
    from kernels.allocation.problem import AllocationProblem
    from kernels.allocation.reference import ReferenceResult, reference
    from kernels.allocation.solver import REASONS, AllocationResult, solve

__all__ = [
    "AllocationProblem",
    "AllocationResult",
    "REASONS",
    "ReferenceResult",
    "evaluate",
    "generate",
    "reference",
    "solve",
]

__getattr__, __dir__ = attach(
    __name__,
    {
        "evaluate": ("evaluate",),
        "generate": ("generate",),
        "problem": ("AllocationProblem",),
        "reference": ("ReferenceResult", "reference"),
        "solver": ("REASONS", "AllocationResult", "solve"),
    },
)
