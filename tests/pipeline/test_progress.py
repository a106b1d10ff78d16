"""Progress reporting: the steps every conversion tells a ``Resources(progress=...)`` object, recorded by
ProgressLog on real conversions (counted steps reach their total, counts never go back, bytes add up)."""

from __future__ import annotations

import numpy as np
import pytest
from _slides import write_wsi_pyramid

from labelmap._util.progress import BYTES, Progress, ProgressLog
from labelmap._util.resources import Resources
from labelmap.demo.sample import sample_metadata
from labelmap.pipeline.bin2label import binary_to_labelmap
from labelmap.pipeline.convert import itk_to_seg, seg_to_itk
from labelmap.pipeline.options import ReadOptions, WriteOptions
from labelmap.pipeline.slide import slide_to_seg
from labelmap.pipeline.slide_read import seg_to_slide

from _cli import LABEL_VALUES, make_case

SIZES = ((1001, 777), (501, 389))


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return make_case(tmp_path_factory.mktemp("progress"))


@pytest.fixture(scope="module")
def slide(tmp_path_factory):
    folder = tmp_path_factory.mktemp("progress_slide")
    write_wsi_pyramid(folder, sizes=SIZES, tile=(256, 256), photometric="MONOCHROME2")
    labels = np.zeros(SIZES[0], np.uint8)
    labels[100:700, 50:300] = 1
    labels[400:1001, 500:777] = 3
    return folder, labels


def _check(log: ProgressLog) -> None:
    """Every counted step reached its total; no count ever went back."""
    assert log.steps, "nothing was reported"
    for step in log.steps:
        assert all(b >= a for a, b in zip(step.counts, step.counts[1:])), step
        assert all(c >= 0 for c in step.counts), step
        if step.total is not None:
            assert step.done == step.total, step


def _step(log: ProgressLog, name: str):
    found = [s for s in log.steps if s.name == name]
    assert len(found) == 1, [s.name for s in log.steps]
    return found[0]


def test_progress_log_is_a_progress():
    log = ProgressLog()
    assert isinstance(log, Progress)
    with pytest.raises(RuntimeError, match="before any step"):
        log.advance(1)
    log.step("a", 3, "frames")
    log.advance(1, nbytes=10)
    log.advance(2, nbytes=5)
    log.step("b")
    assert [(s.name, s.total, s.counts, s.nbytes) for s in log.snapshot()] == [("a", 3, [1, 3], 15), ("b", None, [], 0)]
    assert log.nbytes == 15 and log.steps[0].done == 3 and log.steps[1].done == 0


def test_resources_progress_is_not_part_of_equality():
    assert Resources(threads=2, progress=ProgressLog()) == Resources(threads=2)
    assert "progress" not in repr(Resources(threads=2, progress=ProgressLog()))


@pytest.mark.parametrize("seg_type", ["labelmap", "binary"])
@pytest.mark.parametrize("compression", ["deflate", "none"])
def test_volume_write_reports_its_steps(case, tmp_path, seg_type, compression):
    log = ProgressLog()
    out = tmp_path / "seg.dcm"
    options = WriteOptions(seg_type=seg_type, compression=compression)
    itk_to_seg([case["lab"]], [case["ct"]], case["meta"], out, options=options, resources=Resources(progress=log))
    _check(log)
    names = [s.name for s in log.steps]
    expected = ["reading the label images and the source series", "encoding the frames"]
    expected += ["compressing"] if compression == "deflate" else []
    assert names == [*expected, "writing the SEG"]
    writing = _step(log, "writing the SEG")
    assert writing.unit == BYTES and writing.nbytes == writing.total
    assert 0 < writing.total < out.stat().st_size  # all but the preamble and the File Meta group


def test_volume_write_without_progress_is_the_same_file(case, tmp_path):
    """Reporting changes how the bytes are written (16 MB pieces), never which bytes."""
    from labelmap.dicom.uid_source import UidSource
    from labelmap.pipeline.convert import load_source, read_labels, write_seg

    volume, source = read_labels(case["lab"]), load_source(case["ct"])
    volume = type(volume)(volume.array, volume.geometry, tuple(read_segments(case)))
    for compression in ("none", "deflate"):
        options = WriteOptions(compression=compression)
        a, b = tmp_path / f"a-{compression}.dcm", tmp_path / f"b-{compression}.dcm"
        write_seg(volume, source, a, options=options, uids=UidSource(b"x"))
        log = ProgressLog()
        write_seg(volume, source, b, options=options, uids=UidSource(b"x"), resources=Resources(progress=log))
        assert log.steps and _timeless(a) == _timeless(b)


def _timeless(path):
    """The data set of ``path`` as pydicom reads it, without the dates and times of its writing (and the Series
    Instance UID, which a UidSource given to write_seg does not mint)."""
    import pydicom

    ds = pydicom.dcmread(path)
    for keyword in (
        "ContentDate",
        "ContentTime",
        "InstanceCreationDate",
        "InstanceCreationTime",
        "SeriesDate",
        "SeriesTime",
        "SeriesInstanceUID",
    ):
        if keyword in ds:
            delattr(ds, keyword)
    return ds


def read_segments(case):
    from labelmap.formats.dcmqi_json import load_metadata

    return load_metadata(case["meta"]).segments[0]


def test_volume_read_counts_images(case, tmp_path):
    binary = tmp_path / "binary.dcm"
    itk_to_seg([case["lab"]], [case["ct"]], case["meta"], binary, options=WriteOptions(seg_type="binary"))
    log = ProgressLog()
    report = seg_to_itk(binary, tmp_path / "out", resources=Resources(progress=log))
    _check(log)
    images = _step(log, "writing label images")
    assert images.total == len(report.outputs) == len(LABEL_VALUES) and images.unit == "images"
    assert images.counts == list(range(1, len(LABEL_VALUES) + 1))
    assert images.nbytes == sum(p.stat().st_size for p in report.outputs)
    log = ProgressLog()
    seg_to_itk(binary, tmp_path / "segnrrd", options=ReadOptions(fmt="segnrrd"), resources=Resources(progress=log))
    _check(log)
    assert [s.name for s in log.steps][0] == "reading the SEG"


def test_bin2label_reports_its_steps(case, tmp_path):
    binary = tmp_path / "binary.dcm"
    itk_to_seg([case["lab"]], [case["ct"]], case["meta"], binary, options=WriteOptions(seg_type="binary"))
    log = ProgressLog()
    binary_to_labelmap(binary, tmp_path / "lm.dcm", resources=Resources(progress=log))
    _check(log)
    names = [s.name for s in log.steps]
    assert names[:2] == ["reading the BINARY SEG", "encoding the LABELMAP frames"] and names[-1] == "writing the SEG"


@pytest.mark.parametrize(("seg_type", "compression"), [("labelmap", None), ("binary", None), ("binary", "deflate")])
def test_slide_write_counts_frames_and_bytes(slide, tmp_path, seg_type, compression):
    folder, labels = slide
    out = tmp_path / "seg.dcm"
    log = ProgressLog()
    options = WriteOptions(seg_type=seg_type, pyramid=True, tiled_compression=compression)
    report = slide_to_seg(labels, folder, out, metadata=sample_metadata([1, 3]), options=options,
                          resources=Resources(progress=log))  # fmt: skip
    _check(log)
    making = _step(log, "making frames")
    streams = 1 if seg_type == "labelmap" else 2
    assert making.total == report.frames == streams * 4 * 4  # 1001 x 777 in 256 x 256 tiles
    assert len(making.counts) == 4 and making.nbytes > 0  # one report per band
    writes = [s for s in log.steps if s.name.startswith("writing level")]
    assert [s.name for s in writes] == ["writing level 0 of 2", "writing level 1 of 2"]
    for step, path in zip(writes, [out, *report.pyramid_levels]):
        assert step.unit == BYTES and 0 < step.total < path.stat().st_size and step.nbytes == step.total


def test_slide_read_counts_tiles(slide, tmp_path):
    folder, labels = slide
    seg = tmp_path / "seg.dcm"
    slide_to_seg(labels, folder, seg, metadata=sample_metadata([1, 3]), options=WriteOptions(seg_type="binary"))
    for merge in (False, True):
        log = ProgressLog()
        report = seg_to_slide(seg, tmp_path / f"out{merge}", merge_segments=merge, progress=log)
        _check(log)
        tiles = _step(log, "writing label images")
        assert tiles.total == len(report.outputs) * 16 and tiles.unit == "tiles"
        assert tiles.nbytes == sum(p.stat().st_size for p in report.outputs)
        assert ("finding overlapping segments" in [s.name for s in log.steps]) == merge


def test_none_means_no_calls(case, slide, tmp_path):
    """The default: a Resources without progress (and no Resources) report to nobody and still work."""
    folder, labels = slide
    slide_to_seg(labels, folder, tmp_path / "s.dcm", metadata=sample_metadata([1, 3]), resources=Resources())
    itk_to_seg([case["lab"]], [case["ct"]], case["meta"], tmp_path / "v.dcm", resources=Resources(threads=1))
