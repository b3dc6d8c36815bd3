"""openpersonalize.demo.bundled_movielens: a folder someone made or an interrupted unpack is filled in, and
processes unpacking into one target at once all read whole files."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

from openpersonalize.demo import bundled_movielens

READ_RATINGS = (
    "import sys, hashlib; from pathlib import Path; from openpersonalize.demo import bundled_movielens; "
    "print(hashlib.sha256((bundled_movielens(Path(sys.argv[1])) / 'ratings.csv').read_bytes()).hexdigest())"
)


def _archived() -> dict[str, bytes]:
    """The shipped archive's files by their path under the target."""
    archive = resources.files("openpersonalize.datasets").joinpath("ml-latest-small.zip")
    with resources.as_file(archive) as path, zipfile.ZipFile(path) as zf:
        return {m.filename: zf.read(m) for m in zf.infolist() if not m.is_dir()}


def _assert_whole(target: Path) -> None:
    for name, data in _archived().items():
        assert (target / name).read_bytes() == data, name
    assert [p.name for p in target.iterdir()] == ["ml-latest-small"]  # no staging folder left behind


def test_an_empty_folder_is_filled(tmp_path):
    (tmp_path / "ml-latest-small").mkdir()
    assert bundled_movielens(tmp_path) == tmp_path / "ml-latest-small"
    _assert_whole(tmp_path)


def test_an_interrupted_unpack_is_completed(tmp_path):
    out = bundled_movielens(tmp_path)
    whole = (out / "movies.csv").stat().st_ino
    ratings = (out / "ratings.csv").read_bytes()
    (out / "ratings.csv").write_bytes(ratings[: len(ratings) // 2])
    (out / "tags.csv").unlink()
    assert bundled_movielens(tmp_path) == out
    _assert_whole(tmp_path)
    assert (out / "movies.csv").stat().st_ino == whole  # a whole file is left as it is


def test_processes_sharing_a_target_read_whole_files(tmp_path):
    (tmp_path / "ml-latest-small").mkdir()
    runs = [
        subprocess.Popen([sys.executable, "-c", READ_RATINGS, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    digests = {run.communicate(timeout=120)[0].strip() for run in runs}
    assert all(run.returncode == 0 for run in runs)
    assert digests == {hashlib.sha256(_archived()["ml-latest-small/ratings.csv"]).hexdigest()}
    _assert_whole(tmp_path)
