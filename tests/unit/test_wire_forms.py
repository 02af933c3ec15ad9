"""What crosses to a scanning process comes back equal (custom `__reduce__`s)."""

from __future__ import annotations

import pickle

from hypothesis import given
from hypothesis import strategies as st

from leakmesh.engine.finding import CommitInfo
from leakmesh.sources.git import BlobRef

text = st.text(max_size=40)


@given(blob_id=text, path=text, fields=st.tuples(text, text, text, text, text))
def test_blob_refs_survive_pickling(
    blob_id: str, path: str, fields: tuple[str, str, str, str, str]
) -> None:
    ref = BlobRef(blob_id=blob_id, path=path, commit=CommitInfo(*fields))
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        copy = pickle.loads(pickle.dumps([ref, ref.commit], protocol=protocol))
        assert copy == [ref, ref.commit]
        assert type(copy[0].commit) is CommitInfo
