"""Benchmarks and synthetic fleets (``hcp bench ...``); production code never imports this package."""
