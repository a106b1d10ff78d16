"""asv benchmarks: writing DICOM SEG through the public Python API.

``labelmap.pipeline.convert.itk_to_seg`` (NRRD + dcmqi JSON + CT series -> SEG) for
each type -- LABELMAP, LABELMAP with deflate, BINARY, FRACTIONAL -- and
``labelmap.pipeline.bin2label.binary_to_labelmap`` (BINARY SEG -> LABELMAP SEG).
Parameters: segment count (1, 10, 100) and size (128x128x64, 512x512x300;
LABELMAP_BENCH_SMALL=1 skips the large one).  The input cases are generated
once in ``setup_cache``; FRACTIONAL with 100 segments on the large grid
(100 full-size probability maps) is skipped.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from . import _cases

SEGMENTS = [1, 10, 100]
WRITE_TYPES = ["labelmap", "labelmap-deflate", "binary", "fractional"]

#: (seg_type, compression) of each write parameter value
_WRITE_ARGS = {
    "labelmap": ("labelmap", "none"),
    "labelmap-deflate": ("labelmap", "deflate"),
    "binary": ("binary", "none"),
    "fractional": ("fractional", "none"),
}


def _fractional_supported(n: int, size: str) -> bool:
    return not (size == _cases.LARGE and n > 10)


def _case(root: str, n: int, size: str) -> _cases.Case:
    rows, slices = _cases.SIZES[size]
    return _cases.make_case(root, rows, slices, n)  # already made in setup_cache: only path arithmetic


class _WriteBase:
    timeout = 900
    repeat = (1, 5, 60.0)

    def setup_cache(self):
        from labelmap.pipeline.convert import itk_to_seg
        from labelmap.pipeline.options import WriteOptions

        root = os.path.abspath("write-cases")
        for size in _cases.size_params():
            for n in SEGMENTS:
                case = _case(root, n, size)
                if _fractional_supported(n, size):
                    case.fractional()
                # input of bin2label
                itk_to_seg(
                    [case.labels],
                    [case.ct],
                    case.metadata,
                    case.root / "binary.dcm",
                    options=WriteOptions(seg_type="binary"),
                )
        return root

    setup_cache.timeout = 3600

    def make_tmp(self):
        self.tmp = tempfile.mkdtemp(prefix="labelmap-bench-")

    def teardown(self, *args):
        tmp = getattr(self, "tmp", None)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


class WriteSeg(_WriteBase):
    """itk_to_seg: NRRD label map (+ CT series + metadata) -> SEG of the given type."""

    params = [WRITE_TYPES, SEGMENTS, _cases.size_params()]
    param_names = ["type", "segments", "size"]

    def setup(self, root, kind, n, size):
        _cases.skip_if_disabled(size)
        if kind == "fractional" and not _fractional_supported(n, size):
            raise NotImplementedError("FRACTIONAL with 100 full-size maps is not benchmarked")
        case = _case(root, n, size)
        seg_type, compression = _WRITE_ARGS[kind]
        if kind == "fractional":
            labels, metadata = case.fractional()
        else:
            labels, metadata = [case.labels], case.metadata
        self.args = (labels, [case.ct], metadata)
        self.options = {"seg_type": seg_type, "compression": compression}
        self.make_tmp()
        self.output = os.path.join(self.tmp, "seg.dcm")

    def _run(self):
        from labelmap.pipeline.convert import itk_to_seg
        from labelmap.pipeline.options import WriteOptions

        labels, dicom, metadata = self.args
        itk_to_seg(labels, dicom, metadata, self.output, options=WriteOptions(**self.options))

    def time_itk_to_seg(self, root, kind, n, size):
        self._run()

    def peakmem_itk_to_seg(self, root, kind, n, size):
        self._run()

    def track_output_bytes(self, root, kind, n, size):
        self._run()
        return os.path.getsize(self.output)

    track_output_bytes.unit = "bytes"


class BinaryToLabelmap(_WriteBase):
    """binary_to_labelmap: BINARY SEG -> LABELMAP SEG."""

    params = [SEGMENTS, _cases.size_params()]
    param_names = ["segments", "size"]

    def setup(self, root, n, size):
        _cases.skip_if_disabled(size)
        self.input = str(_case(root, n, size).root / "binary.dcm")
        self.make_tmp()
        self.output = os.path.join(self.tmp, "labelmap.dcm")

    def time_binary_to_labelmap(self, root, n, size):
        from labelmap.pipeline.bin2label import binary_to_labelmap

        binary_to_labelmap(self.input, self.output)

    def peakmem_binary_to_labelmap(self, root, n, size):
        from labelmap.pipeline.bin2label import binary_to_labelmap

        binary_to_labelmap(self.input, self.output)
