"""labelmap._util.atomic: one file or a set of files written all or nothing, short temporary names,
outputs that would replace an input refused."""

from __future__ import annotations

import os
import stat

import pytest

from labelmap._util.atomic import (
    TEMP_PREFIX,
    OutputSet,
    atomic_path,
    check_not_input,
    check_output_dir,
    check_output_target,
    is_temporary,
)
from labelmap.errors import OutputError


def _files(folder) -> dict[str, bytes]:
    """Every entry of ``folder`` (hidden ones included) with its bytes."""
    return {p.name: (p.read_bytes() if p.is_file() else b"<dir>") for p in folder.iterdir()}


# --------------------------------------------------------------------------- one file
def test_atomic_path_writes_through_a_short_temporary(tmp_path):
    target = tmp_path / ("n" * 243 + ".nii.gz")  # 250 bytes: a long temporary name would pass NAME_MAX
    seen = []
    with atomic_path(target) as tmp:
        seen.append(tmp.name)
        assert tmp.parent == tmp_path and tmp.exists()
        tmp.write_bytes(b"data")
    assert target.read_bytes() == b"data"
    assert len(seen[0]) <= 40 and seen[0].startswith(TEMP_PREFIX) and seen[0].endswith(".nii.gz")
    assert is_temporary(seen[0])
    assert sorted(_files(tmp_path)) == [target.name]


@pytest.mark.parametrize(
    "name, kept",
    [("organs.seg.nrrd", ".seg.nrrd"), ("a.nii.gz", ".nii.gz"), ("x.dcm", ".dcm"), ("noext", ""), (".hidden", "")],
)
def test_temporaries_keep_the_format_suffix(tmp_path, name, kept):
    with atomic_path(tmp_path / name) as tmp:
        assert tmp.name.endswith(".tmp" + kept)
        tmp.write_bytes(b"")


def test_atomic_path_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / "good.dcm"
    target.write_bytes(b"old")
    with pytest.raises(OutputError, match=r"good\.dcm.*No space left"), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise OSError(28, "No space left on device")
    assert _files(tmp_path) == {"good.dcm": b"old"}


def test_atomic_path_gives_normal_file_mode(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "x.json") as tmp:
            tmp.write_text("{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.json").stat().st_mode) == 0o644


def test_a_symbolic_link_is_written_through(tmp_path):
    real = tmp_path / "real.dcm"
    real.write_bytes(b"old")
    link = tmp_path / "link.dcm"
    link.symlink_to(real)
    with atomic_path(link) as tmp:
        tmp.write_bytes(b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"


@pytest.mark.parametrize("kind", ["dangling link", "folder", "fifo", "device", "through a file", "empty"])
def test_unusable_output_paths_are_refused(tmp_path, kind):
    (tmp_path / "file.txt").write_text("x")
    target = {
        "dangling link": tmp_path / "dangling.dcm",
        "folder": tmp_path / "sub",
        "fifo": tmp_path / "pipe.dcm",
        "device": "/dev/full",
        "through a file": tmp_path / "file.txt" / "out.dcm",
        "empty": "",
    }[kind]
    if kind == "dangling link":
        (tmp_path / "dangling.dcm").symlink_to(tmp_path / "missing" / "x.dcm")
    elif kind == "folder":
        (tmp_path / "sub").mkdir()
    elif kind == "fifo":
        os.mkfifo(tmp_path / "pipe.dcm")
    before = _files(tmp_path)
    words = {
        "dangling link": "does not exist",
        "folder": "is a folder",
        "fifo": "FIFO",
        "device": "character device",
        "through a file": "is a file",
        "empty": "empty",
    }[kind]
    with pytest.raises(OutputError, match=words):
        check_output_target(target)
    with pytest.raises(OutputError, match=words), atomic_path(target) as tmp:
        tmp.write_bytes(b"never")
    assert _files(tmp_path) == before


def test_output_dir_checks(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(OutputError, match="empty"):
        check_output_dir("")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_output_dir(tmp_path / "file.txt")
    with pytest.raises(OutputError, match="a part of its path is a file"):
        check_output_dir(tmp_path / "file.txt" / "sub", create=True)
    with pytest.raises(OutputError, match="does not exist"):
        check_output_dir(tmp_path / "new")
    assert check_output_dir(tmp_path / "new" / "deep", create=True).is_dir()


def test_an_output_that_is_an_input_is_refused_through_links(tmp_path):
    ct = tmp_path / "ct"
    ct.mkdir()
    (ct / "1.dcm").write_bytes(b"ct")
    (tmp_path / "alias.dcm").symlink_to(ct / "1.dcm")
    os.link(ct / "1.dcm", tmp_path / "hard.dcm")
    for out in (ct / "1.dcm", tmp_path / "ct" / ".." / "ct" / "1.dcm", tmp_path / "alias.dcm", tmp_path / "hard.dcm"):
        with pytest.raises(OutputError, match=r"is also a file of the series.*another output name"):
            check_not_input(out, [ct / "1.dcm"], what="a file of the series")
    # a new file beside the inputs, and folders among the inputs, are fine
    check_not_input(ct / "2.dcm", [ct / "1.dcm"])
    check_not_input(tmp_path / "other.dcm", [ct])
    with pytest.raises(OutputError, match=r"'.*alias\.dcm' is also an input file \('.*1\.dcm'\)"):
        check_output_target(tmp_path / "alias.dcm", [ct / "1.dcm"])


# --------------------------------------------------------------------------- a set of files
def test_output_set_commits_every_file_at_once(tmp_path):
    (tmp_path / "1.nrrd").write_bytes(b"old one")
    with OutputSet() as out:
        for name in ("1.nrrd", "2.nrrd", "meta.json"):
            out.stage(tmp_path / name).write_bytes(name.encode())
            # nothing is visible under its own name before the commit
            assert (tmp_path / "1.nrrd").read_bytes() == b"old one"
            assert not (tmp_path / "meta.json").exists()
        assert out.targets == [tmp_path / n for n in ("1.nrrd", "2.nrrd", "meta.json")]
    assert _files(tmp_path) == {"1.nrrd": b"1.nrrd", "2.nrrd": b"2.nrrd", "meta.json": b"meta.json"}


@pytest.mark.parametrize("failure", [KeyboardInterrupt, OSError, ValueError])
def test_output_set_failure_on_the_fifth_of_eight_leaves_the_folder_as_it_was(tmp_path, failure):
    (tmp_path / "3.nrrd").write_bytes(b"old three")
    (tmp_path / "meta.json").write_bytes(b"old meta")
    before = _files(tmp_path)
    with pytest.raises(OutputError if failure is OSError else failure), OutputSet() as out:
        for k in range(1, 9):
            if k == 5:
                raise failure(28, "No space left on device") if failure is OSError else failure()
            out.stage(tmp_path / f"{k}.nrrd").write_bytes(b"new")
        out.stage(tmp_path / "meta.json").write_bytes(b"new meta")
    assert _files(tmp_path) == before


def test_output_set_rolls_back_a_commit_that_fails_half_way(tmp_path):
    """The 3rd rename fails for real (its target became a folder after staging): the two files
    already renamed get their old contents back, the new one disappears."""
    (tmp_path / "1.nrrd").write_bytes(b"old one")
    before = _files(tmp_path)
    with pytest.raises(OutputError, match="3.nrrd"), OutputSet() as out:
        for k in (1, 2, 3):
            out.stage(tmp_path / f"{k}.nrrd").write_bytes(b"new")
        (tmp_path / "3.nrrd").mkdir()
        (tmp_path / "3.nrrd" / "keep").write_text("x")  # a non-empty folder: replacing it fails
        before["3.nrrd"] = b"<dir>"
    assert _files(tmp_path) == before


def test_output_set_refuses_two_outputs_with_one_name(tmp_path):
    (tmp_path / "a.nrrd").write_bytes(b"old")
    (tmp_path / "b.nrrd").symlink_to(tmp_path / "a.nrrd")
    before = _files(tmp_path)
    for second in (tmp_path / "a.nrrd", tmp_path / "." / "a.nrrd", tmp_path / "b.nrrd"):
        with pytest.raises(OutputError, match="two outputs"), OutputSet() as out:
            out.stage(tmp_path / "a.nrrd").write_bytes(b"new")
            out.stage(second)
        assert _files(tmp_path) == before


def test_output_set_names_the_target_not_the_temporary(tmp_path):
    with pytest.raises(OutputError) as info, OutputSet() as out:
        tmp = out.stage(tmp_path / "labels.nii.gz")
        raise OutputError(f"cannot write {str(tmp)!r}: No space left on device")
    assert "labels.nii.gz" in str(info.value) and TEMP_PREFIX not in str(info.value)
    assert list(tmp_path.iterdir()) == []
