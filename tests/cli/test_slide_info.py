"""``labelmap-convert info`` on slide SEGs: matrix, tiles, organisation, frames, spacing, origin, segments."""

from __future__ import annotations

import re

import pytest
from _tiled_segs import blobs, hand_seg, highdicom_seg, wsi_dataset

from _cli import run_cli

pytest.importorskip("highdicom")


@pytest.mark.parametrize("organization", ["TILED_FULL", "TILED_SPARSE"])
def test_info_on_a_slide_seg(tmp_path, capsys, organization):
    labels = blobs(1001, 777, 3)
    source = wsi_dataset(1001, 777, spacing_mm=0.0005, origin=(12.5, 33.0))
    path = highdicom_seg(tmp_path / "s.dcm", labels, "BINARY", organization, source=source)
    rc, out, err = run_cli(capsys, "info", path)
    assert rc == 0, err
    assert "Segmentation Storage" in out and "BINARY" in out
    assert re.search(rf"Organization\s+{organization}", out)
    assert re.search(r"Total Pixel Matrix\s+777 x 1,001 px", out)
    assert re.search(r"Tiles\s+256 x 256 px, 4 x 4 = 16 tiles", out)
    assert re.search(r"Pixel Spacing\s+0.5 x 0.5 um", out)
    assert re.search(r"Origin\s+X 12.5 mm, Y 33 mm, Z 0 um", out)
    frames = 48 if organization == "TILED_FULL" else None
    if frames:
        assert re.search(rf"Frames\s+{frames}\b", out)
    for n in (1, 2, 3):
        assert re.search(rf"^\W*{n}\W+segment {n}\W", out, re.M)


def test_info_prints_the_position_warning(tmp_path, capsys):
    import numpy as np

    frames = np.ones((2, 10, 10), np.uint8)
    path = hand_seg(
        tmp_path / "s.dcm",
        rows=10,
        columns=20,
        tile=(10, 10),
        frames=frames,
        positions=[(1, 1), (1, 11)],
        offsets=[(20.0, 40.0), (25.0, 40.0)],
    )
    rc, out, err = run_cli(capsys, "info", path)
    assert rc == 0, err
    assert len([line for line in out.splitlines() if "warning:" in line]) == 1
    assert "1 of 2 frames have X/Y offsets" in out


def test_info_on_a_damaged_slide_seg_is_one_line(tmp_path, capsys):
    import numpy as np

    path = hand_seg(
        tmp_path / "s.dcm",
        rows=10,
        columns=10,
        tile=(10, 10),
        frames=np.ones((1, 10, 10), np.uint8),
        positions=[(11, 1)],
    )
    rc, out, err = run_cli(capsys, "info", path)
    assert rc == 1
    assert err.count("\n") == 1 and "frame 1" in err and "outside" in err
