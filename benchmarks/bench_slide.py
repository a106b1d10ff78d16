"""asv benchmarks: slide SEGs (issue #12) written and read through the public Python API.

``labelmap.pipeline.slide.slide_to_seg`` (``.npy`` label map + VL WSI source + dcmqi JSON -> TILED_FULL
SEG) as LABELMAP with RLE, Deflated Image Frame Compression and JPEG-LS, and as BINARY native;
``labelmap.pipeline.slide_read.seg_to_slide`` (SEG -> ``1.ome.tif`` / one TIFF per segment) on the
LABELMAP RLE and deflate files and the BINARY file.  The slide is the synthetic 4,000 x 5,000 uint16
label map of ``_slide_data.py`` (20 classes; LABELMAP_BENCH_SMALL=1: 1,000 x 1,300), made once in
``setup_cache`` with its source level.  Combinations whose code is not on this checkout are skipped.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from . import _cases, _slide_case

#: write parameter -> (seg_type, tiled_compression)
WRITES = {
    "labelmap-rle": ("labelmap", "rle"),
    "labelmap-deflate": ("labelmap", "deflate"),
    "labelmap-jpegls": ("labelmap", "jpegls"),
    "binary-none": ("binary", "none"),
}
#: read parameter -> the written file it reads
READS = {"labelmap-rle": "labelmap-rle", "labelmap-deflate": "labelmap-deflate", "binary": "binary-none"}


def _size() -> tuple[int, int]:
    return (1000, 1300) if _cases.small_only() else (4000, 5000)


def _case(root: str) -> _slide_case.SlideCase:
    rows, cols = _size()
    return _slide_case.make_case(root, rows, cols)  # made in setup_cache: only path arithmetic then


def _writer():
    try:
        from labelmap.pipeline.options import WriteOptions
        from labelmap.pipeline.slide import slide_to_seg
    except ImportError as exc:
        raise NotImplementedError(f"no slide writer on this checkout ({exc})") from None
    return slide_to_seg, WriteOptions


def _reader():
    try:
        from labelmap.pipeline.slide_read import seg_to_slide
    except ImportError as exc:
        raise NotImplementedError(f"no slide reader on this checkout ({exc})") from None
    return seg_to_slide


def write(case: _slide_case.SlideCase, kind: str, out: str):
    slide_to_seg, WriteOptions = _writer()
    seg_type, comp = WRITES[kind]
    options = WriteOptions(seg_type=seg_type, tiled="full", tiled_compression=comp)
    return slide_to_seg(case.npy, case.wsi, out, metadata=case.metadata, options=options)


class _SlideBase:
    timeout = 600
    repeat = (1, 5, 30.0)

    def setup_cache(self):
        root = os.path.abspath("slide-cases")
        case = _case(root)
        try:
            _writer()
        except NotImplementedError:
            return root
        for kind in READS.values():
            target = case.root / f"input-{kind}.dcm"
            if not target.exists():
                write(case, kind, str(target))
        return root

    setup_cache.timeout = 900

    def make_tmp(self):
        self.tmp = tempfile.mkdtemp(prefix="labelmap-slide-bench-")

    def teardown(self, *args):
        tmp = getattr(self, "tmp", None)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


class WriteSlide(_SlideBase):
    """slide_to_seg: .npy label map + WSI source -> TILED_FULL SEG."""

    params = [list(WRITES)]
    param_names = ["write"]

    def setup(self, root, kind):
        _writer()
        self.case = _case(root)
        self.make_tmp()
        self.out = os.path.join(self.tmp, "seg.dcm")

    def time_write(self, root, kind):
        write(self.case, kind, self.out)

    def peakmem_write(self, root, kind):
        write(self.case, kind, self.out)

    def track_output_bytes(self, root, kind):
        write(self.case, kind, self.out)
        return os.path.getsize(self.out)

    track_output_bytes.unit = "bytes"


class ReadSlide(_SlideBase):
    """seg_to_slide: TILED_FULL SEG -> tiled OME-TIFF label image(s) + meta.json."""

    params = [list(READS)]
    param_names = ["read"]

    def setup(self, root, kind):
        _reader()
        self.case = _case(root)
        self.seg = self.case.root / f"input-{READS[kind]}.dcm"
        if not self.seg.exists():
            raise NotImplementedError(f"{self.seg.name} was not written (no slide writer in setup_cache)")
        self.make_tmp()

    def _read(self):
        out = tempfile.mkdtemp(dir=self.tmp)
        _reader()(str(self.seg), out)

    def time_read(self, root, kind):
        self._read()

    def peakmem_read(self, root, kind):
        self._read()
