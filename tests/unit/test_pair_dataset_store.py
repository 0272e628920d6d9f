"""A pair dataset written to a path (staged, renamed) and to a URI (an object store: the
manifest last) reads back the same; a URI folder without its manifest is refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from matching.core.ml.pairs import StatsTable
from training import pair_dataset
from training.pair_dataset import PairDataset
from training.pairs_data import Window

ROWS = pa.table({"swiper": ["a", "b"], "label": [1, 0]})


class _Rows:
    """What `write` asks of a Ray Dataset: write_parquet to a path or a URI."""

    def write_parquet(self, where: str) -> None:
        pq.write_to_dataset(ROWS, where)


def _manifest() -> dict[str, object]:
    end = datetime(2026, 12, 1, tzinfo=UTC)
    window = Window(end - timedelta(days=14), end - timedelta(days=7), end, 7.0)
    return {"version": "v1", "kind": pair_dataset.KIND, "window": window.to_dict()}


@pytest.mark.parametrize("as_uri", [False, True])
def test_written_and_read_back(tmp_path: Path, as_uri: bool) -> None:
    stats = StatsTable.from_counts({uuid.UUID(int=1): (3, 4, 5, 6)}, 8.0)
    root = f"file://{tmp_path}" if as_uri else tmp_path
    written = pair_dataset.write(root, "v1", _Rows(), stats, _manifest())
    assert written.folder.endswith("/pairs/v1")
    assert written.folder.startswith("file://") is as_uri
    again = PairDataset.load(written.folder)
    assert again.stats.counts == stats.counts and again.window == written.window
    assert pq.read_table(again.data).sort_by("swiper").to_pylist() == ROWS.to_pylist()
    assert again.manifest["feature_names"] and again.manifest["version"] == "v1"


def test_a_uri_folder_without_its_manifest_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pairs" / "v2").mkdir(parents=True)
    with pytest.raises(ValueError, match="no manifest"):
        PairDataset.load(f"file://{tmp_path}/pairs/v2")
