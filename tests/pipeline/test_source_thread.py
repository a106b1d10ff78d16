"""itk_to_seg reads the source series after the label files (small inputs) or on a second thread meanwhile
(large inputs, or a frame codec to import): both give the same file and the same errors, label files' first."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from _images import write_image

from labelmap.demo.sample import sample_metadata
from labelmap.errors import DicomSeriesError, ImageFormatError
from labelmap.pipeline import convert
from labelmap.pipeline.convert import Pending, itk_to_seg
from labelmap.pipeline.options import WriteOptions

from _geometries import axial_geometry, make_ct_series

CT = axial_geometry(shape=(6, 20, 18))


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("thread")
    labels = np.zeros(CT.shape, np.uint8)
    labels[1:4, 5:12, 4:9] = 1
    labels[2:5, 8:15, 10:16] = 2
    write_image(root / "labels.nrrd", labels, CT)
    (root / "meta.json").write_text(json.dumps(sample_metadata([1, 2])))
    return {"ct": make_ct_series(root, CT), "labels": root / "labels.nrrd", "meta": root / "meta.json"}


def _write(case, out: Path, threshold: int, monkeypatch, compression: str = "deflate") -> dict:
    """The SEG written with this threshold, as its elements (the times of day left out)."""
    import pydicom

    monkeypatch.setattr(convert, "THREAD_MIN_BYTES", threshold)
    out.parent.mkdir()
    options = WriteOptions(deterministic_uids=True, compression=compression)
    itk_to_seg([case["labels"]], [case["ct"]], case["meta"], out, options=options)
    ds = pydicom.dcmread(out)
    return {e.tag: e.value for e in ds if e.keyword not in _CLOCK}


_CLOCK = {"ContentDate", "ContentTime", "SeriesDate", "SeriesTime", "InstanceCreationDate", "InstanceCreationTime"}


@pytest.mark.parametrize("compression", ["deflate", "none"])
def test_one_file_with_or_without_the_thread(case, tmp_path, monkeypatch, compression):
    threads = threading.active_count()
    inline = _write(case, tmp_path / "inline" / "seg.dcm", 1 << 62, monkeypatch, compression)
    threaded = _write(case, tmp_path / "threaded" / "seg.dcm", 0, monkeypatch, compression)
    assert inline == threaded
    assert threading.active_count() == threads  # no thread outlives the call


@pytest.mark.parametrize("threshold", [0, 1 << 62])
def test_label_errors_come_before_series_errors(case, tmp_path, monkeypatch, threshold):
    monkeypatch.setattr(convert, "THREAD_MIN_BYTES", threshold)
    bad = tmp_path / "bad.nrrd"
    bad.write_bytes(b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 18 20 6\nencoding: gzip\n\nnot gzip")
    empty = tmp_path / "no-ct"
    empty.mkdir()
    with pytest.raises(ImageFormatError, match="bad.nrrd"):
        itk_to_seg([bad], [empty], case["meta"], tmp_path / "out.dcm")
    with pytest.raises(DicomSeriesError, match="no DICOM images"):
        itk_to_seg([case["labels"]], [empty], case["meta"], tmp_path / "out.dcm")
    assert not (tmp_path / "out.dcm").exists()


def test_pending_computes_once_and_reraises():
    calls = []

    def compute() -> int:
        calls.append(1)
        return 7

    lazy = Pending(compute)
    assert calls == []
    assert lazy.result() == 7 and lazy.result() == 7 and calls == [1]
    background = Pending(compute, background=True)
    background.wait()
    assert calls == [1, 1] and background.result() == 7

    def fail() -> int:
        raise ValueError("no series")

    for failing in (Pending(fail), Pending(fail, background=True)):
        failing.wait()
        for _ in range(2):
            with pytest.raises(ValueError, match="no series"):
                failing.result()
