"""The test suite (a package, so that tests/billing is tests.billing and never shadows billing/)."""
