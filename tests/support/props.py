"""Hypothesis settings shared by the property tests of parsers (tests/unit/test_props_*.py)."""

from hypothesis import settings

# No .hypothesis/ directory in the project; no deadline (a shared CI core is slow and timing
# is bench/'s business, not a unit test's).
props = settings(database=None, deadline=None, max_examples=400)
few = settings(database=None, deadline=None, max_examples=100)
