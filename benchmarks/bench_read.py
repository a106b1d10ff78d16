"""asv benchmarks: reading DICOM SEG back to NRRD through the public Python API.

``labelmap.pipeline.convert.seg_to_itk`` on SEG files of each type -- LABELMAP,
LABELMAP with deflate, BINARY (one NRRD per segment), BINARY with
``merge_segments`` (fewest non-overlapping NRRDs), FRACTIONAL (one NRRD per
segment).  Parameters: segment count (1, 10, 100) and size (128x128x64,
512x512x300; LABELMAP_BENCH_SMALL=1 skips the large one).  The SEG inputs are
written once in ``setup_cache`` with ``labelmap.pipeline.convert.itk_to_seg``;
FRACTIONAL with 100 segments on the large grid is skipped.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from . import _cases

SEGMENTS = [1, 10, 100]
READ_TYPES = ["labelmap", "labelmap-deflate", "binary", "binary-merged", "fractional"]

#: read parameter value -> (input file stem, merge_segments)
_READ_ARGS = {
    "labelmap": ("labelmap", False),
    "labelmap-deflate": ("labelmap-deflate", False),
    "binary": ("binary", False),
    "binary-merged": ("binary", True),
    "fractional": ("fractional", False),
}

#: input file stem -> (seg_type, compression)
_INPUTS = {
    "labelmap": ("labelmap", "none"),
    "labelmap-deflate": ("labelmap", "deflate"),
    "binary": ("binary", "none"),
    "fractional": ("fractional", "none"),
}


def _fractional_supported(n: int, size: str) -> bool:
    return not (size == _cases.LARGE and n > 10)


def _case(root: str, n: int, size: str) -> _cases.Case:
    rows, slices = _cases.SIZES[size]
    return _cases.make_case(root, rows, slices, n)


class ReadSeg:
    """seg_to_itk: SEG -> NRRD label image(s) + meta.json."""

    params = [READ_TYPES, SEGMENTS, _cases.size_params()]
    param_names = ["type", "segments", "size"]
    timeout = 900
    repeat = (1, 5, 60.0)

    def setup_cache(self):
        from labelmap.pipeline.convert import itk_to_seg
        from labelmap.pipeline.options import WriteOptions

        root = os.path.abspath("read-cases")
        for size in _cases.size_params():
            for n in SEGMENTS:
                case = _case(root, n, size)
                for stem, (seg_type, compression) in _INPUTS.items():
                    if seg_type == "fractional":
                        if not _fractional_supported(n, size):
                            continue
                        labels, metadata = case.fractional()
                    else:
                        labels, metadata = [case.labels], case.metadata
                    itk_to_seg(
                        labels,
                        [case.ct],
                        metadata,
                        case.root / f"{stem}.dcm",
                        options=WriteOptions(seg_type=seg_type, compression=compression),
                    )
        return root

    setup_cache.timeout = 3600

    def setup(self, root, kind, n, size):
        _cases.skip_if_disabled(size)
        if kind == "fractional" and not _fractional_supported(n, size):
            raise NotImplementedError("FRACTIONAL with 100 full-size maps is not benchmarked")
        stem, self.merge = _READ_ARGS[kind]
        self.input = str(_case(root, n, size).root / f"{stem}.dcm")
        self.tmp = tempfile.mkdtemp(prefix="labelmap-bench-")

    def teardown(self, *args):
        tmp = getattr(self, "tmp", None)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    def _run(self):
        from labelmap.pipeline.convert import seg_to_itk
        from labelmap.pipeline.options import ReadOptions

        seg_to_itk(self.input, self.tmp, options=ReadOptions(merge_segments=self.merge))

    def time_seg_to_itk(self, root, kind, n, size):
        self._run()

    def peakmem_seg_to_itk(self, root, kind, n, size):
        self._run()
