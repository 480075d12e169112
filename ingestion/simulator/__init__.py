"""Seeded, deterministic simulator of a hybrid compute operator's landing files.

`simulate(out_dir, ...)` writes every file kind of docs/landing-formats.md (market prices, device
telemetry, site meters, platform records, workload events) plus labelled injected faults.
"""

from ingestion.simulator.run import SimulationSummary, simulate

__all__ = ["SimulationSummary", "simulate"]
