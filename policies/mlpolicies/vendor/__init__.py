"""Vendored copies of the library's standard-library-only modules, so the pack imports nothing from outside policies/.

The Pulumi CLI starts the pack from `policies/` with its own requirements, so it cannot import `mlplatform`.
Each file here is a byte-identical copy of its source (`rules.py`, `catalog.py` from `mlplatform/`;
`pricing.py`, `billing.py`, `plan.py`, `prices.json` from `mlplatform/cost/`); `tests/test_vendored.py` fails when one
drifts. Edit the source, then copy it here.
"""
