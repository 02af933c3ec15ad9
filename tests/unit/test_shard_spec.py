"""A filesystem shard's key range, and the directories a shard's walk may skip."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from leakmesh.coordination.models import ShardSpec

# Path segments over characters around "/" in byte order, where range edges bite.
segment = st.text(alphabet="-./0Aaz~é", min_size=1, max_size=4).filter(lambda s: "/" not in s)
key = st.lists(segment, min_size=1, max_size=4).map("/".join)
bound = st.one_of(st.just(""), key)


@given(start=bound, end=bound, directory=key, rest=key)
def test_a_directory_holding_a_key_of_the_shard_is_never_pruned(
    start: str, end: str, directory: str, rest: str
) -> None:
    spec = ShardSpec("00000", "/tree", start, end)
    if spec.contains(f"{directory}/{rest}"):
        assert spec.may_hold_under(directory)


def test_a_directory_outside_the_range_is_pruned() -> None:
    spec = ShardSpec("00001", "/tree", "m/a.txt", "m/z.txt")
    assert spec.may_hold_under("m")
    assert not spec.may_hold_under("a")
    assert not spec.may_hold_under("n")
    assert not spec.may_hold_under("m/zz")
    assert spec.may_hold_under("m/b")
    # "m-x/…" sorts before "m/…" although "m-x" comes after "m" in a listing.
    assert not spec.may_hold_under("m-x")
