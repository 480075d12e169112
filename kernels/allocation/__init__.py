"""Allocation kernel: which ASICs and GPUs run in each interval under power caps and GPU demand."""

from kernels.allocation.evaluate import evaluate
from kernels.allocation.generate import generate
from kernels.allocation.problem import AllocationProblem
from kernels.allocation.reference import ReferenceResult, reference
from kernels.allocation.solver import REASONS, AllocationResult, solve

__all__ = [
    "REASONS",
    "AllocationProblem",
    "AllocationResult",
    "ReferenceResult",
    "evaluate",
    "generate",
    "reference",
    "solve",
]
