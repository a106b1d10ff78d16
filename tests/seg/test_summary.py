"""seg_summary: the facts of a SEG file as data (``labelmap-convert info`` prints them)."""

from __future__ import annotations

import numpy as np

import labelmap
from labelmap.seg.summary import seg_summary

from _cli import LABEL_VALUES, LABELMAP_SOP_CLASS, SHAPE, make_case


def test_summary_of_a_labelmap(tmp_path):
    case = make_case(tmp_path)
    s = seg_summary(case["seg"])
    assert labelmap.seg_summary is seg_summary
    assert s["segmentation_type"] == "LABELMAP" and s["sop_class"].startswith(LABELMAP_SOP_CLASS)
    assert s["frames"] == SHAPE[0] - 2 and (s["rows"], s["columns"]) == SHAPE[1:]
    assert s["transfer_syntax"].endswith("(Deflated Explicit VR Little Endian)")
    segments = [seg for seg in s["segments"] if seg["number"]]  # segment 0: the LABELMAP's background
    assert [seg["number"] for seg in segments] == LABEL_VALUES
    assert [seg["voxels"] for seg in segments] == [int(np.sum(case["labels"] == v)) for v in LABEL_VALUES]
    assert s["size_bytes"] == case["seg"].stat().st_size
