"""The COPY text of a done-ledger batch: exact rows for ordinary ids, and no text
at all (the batch then goes through the upsert) for an id COPY would misread."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from leakmesh.store.models import LedgerStatus
from leakmesh.store.pg_writes import ledger_copy_rows


def test_rows_in_the_given_order() -> None:
    statuses = {"b" * 40: LedgerStatus.SCANNED_CLEAN, "a" * 40: LedgerStatus.SKIPPED}
    text = ledger_copy_rows(7, statuses)
    assert text == f"7\t{'a' * 40}\t3\n7\t{'b' * 40}\t4\n"


def test_ids_needing_escapes_are_left_to_the_upsert() -> None:
    for odd in ("a\tb", "a\nb", "a\\nb", "a\rb", "\\."):
        statuses = {"plain": LedgerStatus.SKIPPED, odd: LedgerStatus.SKIPPED}
        assert ledger_copy_rows(1, statuses) is None


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=12), st.sampled_from(list(LedgerStatus)), max_size=20
    )
)
def test_rows_read_back_as_the_batch(statuses: dict[str, LedgerStatus]) -> None:
    text = ledger_copy_rows(3, statuses)
    if text is None:
        assert any(c in oid for oid in statuses for c in "\t\n\r\\")
        return
    rows = [line.split("\t") for line in text.split("\n")[:-1]]
    assert [(int(s), oid, LedgerStatus(int(v))) for s, oid, v in rows] == [
        (3, oid, statuses[oid]) for oid in sorted(statuses)
    ]
