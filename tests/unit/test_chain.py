"""Hash-chain primitives: canonical JSON, the fast body builder, link checks."""

from hypothesis import given
from hypothesis import strategies as st

from gate.domain.chain import (
    GENESIS_HASH,
    body_from_columns,
    canonical_json,
    check_link,
    entry_body,
    row_hash,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
maybe_id = st.none() | st.integers(1, 10**9)
columns = st.fixed_dictionaries({
    "actor_id": maybe_id, "at": st.text(min_size=1, max_size=32),
    "data": st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    "gate_id": maybe_id, "kind": st.text(min_size=1, max_size=40), "post_id": maybe_id,
    "ref_seq": maybe_id, "shift_id": maybe_id, "site": st.text(min_size=1, max_size=40),
})


@given(columns)
def test_fast_body_equals_canonical_body(fields):
    """Protects verification: the fast builder hashes exactly the bytes that append() hashed."""
    fast = body_from_columns(fields["actor_id"], fields["at"], canonical_json(fields["data"]),
                             fields["gate_id"], fields["kind"], fields["post_id"],
                             fields["ref_seq"], fields["shift_id"], fields["site"])
    assert fast == entry_body(fields)


def test_canonical_json_form():
    """Protects the canonical form: sorted keys, no spaces, Chinese kept as UTF-8."""
    assert canonical_json({"b": 1, "a": "值班"}) == '{"a":"值班","b":1}'


@given(columns, st.integers(1, 10**6))
def test_any_change_breaks_the_link(fields, seq):
    """Protects tamper evidence: changing any hashed field changes the row hash."""
    body = entry_body(fields)
    digest = row_hash(1, seq, GENESIS_HASH, body)
    assert check_link(seq, GENESIS_HASH, seq, 1, GENESIS_HASH, digest, body) is None
    changed = dict(fields, kind=fields["kind"] + "x")
    fault = check_link(seq, GENESIS_HASH, seq, 1, GENESIS_HASH, digest, entry_body(changed))
    assert fault is not None and fault.code == "edited"
    assert check_link(seq + 1, GENESIS_HASH, seq, 1, GENESIS_HASH, digest, body).code == "missing"
    assert check_link(seq, "f" * 64, seq, 1, GENESIS_HASH, digest, body).code == "broken_link"
