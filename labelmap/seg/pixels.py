"""The Pixel Data of a SEG as its own object: native bytes, or frames decoded by a codec.

Two sources: :class:`FilePixels` reads a file's value where the bulk reader found it (a
copy-on-write map, or the inflated buffer of a Deflated file) and decodes fragments itself;
:class:`DatasetPixels` takes ``PixelData`` of a pydicom Dataset.  Both give the frames the
same way (:meth:`PixelSource.frames`, :meth:`PixelSource.binary_stream`) with the same checks
and messages, for the decoders and the validator alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from labelmap import kernels
from labelmap.dicom.uids import DEFLATED_IMAGE_FRAME, NATIVE_SYNTAXES, RLE_LOSSLESS, lookup
from labelmap.dicom.values import quiet_pydicom
from labelmap.errors import DicomFormatError, LabelmapError, SegFormatError, UnsupportedError
from labelmap.seg.perframe import seg_error, seg_errors

if TYPE_CHECKING:
    from pydicom.dataset import Dataset
    from pydicom.uid import UID

    from labelmap.dicom.bulk import PixelDataInfo

__all__ = ["PixelSource", "FilePixels", "DatasetPixels"]

#: (Number of Frames, Rows, Columns)
Shape = tuple[int, int, int]


class PixelSource:
    """Where a SEG's frames come from; every method raises :class:`SegFormatError` naming the SEG.

    Sizes are checked against the value, codecs called and messages worded here, once;
    :class:`FilePixels` and :class:`DatasetPixels` say where the value is.
    """

    name: str
    transfer_syntax: str | None
    location: PixelDataInfo | None  # where the value is in the file (None: in a Dataset)

    def native_bytes(self) -> np.ndarray | None:
        """The native Pixel Data value as uint8 (None when compressed: use :meth:`decoded_frames`)."""
        raise NotImplementedError

    def _fast_decode(self, ts: UID, shape: Shape, bits: int) -> np.ndarray | None:
        return None  # None: let pydicom decode

    def _pixel_array(self) -> np.ndarray:
        raise NotImplementedError

    def _is_native(self) -> bool:
        ts = self.transfer_syntax
        return ts is None or ts in NATIVE_SYNTAXES

    def decoded_frames(self, shape: Shape, bits: int) -> np.ndarray:
        """The frames of compressed Pixel Data as a ``shape`` array, through our codecs or pydicom's.

        Parameters
        ----------
        shape
            (Number of Frames, Rows, Columns).
        bits
            Bits Allocated.

        Raises
        ------
        SegFormatError
            Unknown transfer syntax, or data that does not decode to ``shape``.
        MissingDependencyError
            When the codec package for the transfer syntax is not installed.
        """
        from pydicom.uid import UID

        from labelmap.dicom.pixels.codecs import check_available

        ts = UID(self.transfer_syntax or "")
        # our table first: pydicom 3.0 does not know every syntax we code (Deflated Image Frame
        # Compression), and asking it about one raises
        if lookup(ts) is None and not ts.is_transfer_syntax:
            raise SegFormatError(f"{self.name}: Transfer Syntax UID {ts or '(missing)'} is not a known transfer syntax")
        check_available(ts, purpose="reading")
        fast = self._fast_decode(ts, shape, bits)
        if fast is not None:
            return fast
        try:
            with quiet_pydicom():
                arr = self._pixel_array()
        except SegFormatError:
            raise
        except Exception as exc:  # pydicom and its plugins raise many types on damaged data
            raise SegFormatError(
                f"{self.name}: cannot decode {ts.name} pixel data ({type(exc).__name__}: {exc})"
            ) from None
        n, rows, columns = shape
        if arr.size != n * rows * columns:
            raise SegFormatError(
                f"{self.name}: {ts.name} pixel data decoded to {arr.size} pixels, expected Rows x Columns x "
                f"Number of Frames ({rows} x {columns} x {n})"
            )
        return arr.reshape(shape)

    def frames(self, shape: Shape, bits: int) -> np.ndarray:
        """All 8- or 16-bit frames as a ``shape`` array of stored values (a view of the value when native).

        Raises
        ------
        SegFormatError
            Bits Allocated not 8 or 16, or a value of the wrong length.
        UnsupportedError
            Bits Allocated 1 (BINARY frames: use :meth:`binary_stream`).
        """
        if bits not in (8, 16):
            if bits == 1:
                raise UnsupportedError(f"{self.name}: Bits Allocated 1 is for BINARY frames; this reader needs 8 or 16")
            raise SegFormatError(f"{self.name}: Bits Allocated {bits} is not 8 or 16")
        data = self.native_bytes()
        if data is None:
            return self.decoded_frames(shape, bits)
        n, rows, columns = shape
        dtype = np.dtype(np.uint8) if bits == 8 else np.dtype("<u2")
        need = n * rows * columns * dtype.itemsize
        if not need <= len(data) <= need + need % 2:  # (one pad byte to an even length)
            raise SegFormatError(
                f"{self.name}: Pixel Data holds {len(data)} bytes but Rows x Columns x Number of Frames "
                f"({rows} x {columns} x {n}) of {bits}-bit pixels needs {need}"
            )
        return data[:need].view(dtype).reshape(shape)

    def binary_stream(self, shape: Shape) -> np.ndarray:
        """The 1-bit frames as one continuous packed stream (compressed frames decoded and re-packed).

        Raises
        ------
        SegFormatError
            A native value of the wrong length (frames padded to whole bytes are named as such).
        """
        data = self.native_bytes()
        if data is None:
            return kernels.pack_masks(self.decoded_frames(shape, 1))
        n, rows, columns = shape
        npx = rows * columns
        need = (n * npx + 7) // 8
        if not need <= len(data) <= need + need % 2:  # (one pad byte to an even length)
            padded = n * ((npx + 7) // 8)
            hint = (
                " (each frame padded to whole bytes, which the standard does not allow: frames are packed continuously)"
                if padded != need and len(data) in (padded, padded + padded % 2)
                else ""
            )
            raise SegFormatError(
                f"{self.name}: Pixel Data holds {len(data)} bytes but Rows x Columns x Number of Frames "
                f"({rows} x {columns} x {n}) of 1-bit pixels need {need}{hint}"
            )
        return data[:need]


class FilePixels(PixelSource):
    """Pixel Data of a file, read where the bulk reader found it (pydicom only as a fallback decoder)."""

    def __init__(self, name: str, location: PixelDataInfo, extended_offset_table: bool) -> None:
        self.name = name
        self.location: PixelDataInfo | None = location
        self.transfer_syntax: str | None = location.transfer_syntax
        self._info = location
        self._eot = extended_offset_table  # frames then need pydicom's reading of the table

    @seg_errors
    def native_bytes(self) -> np.ndarray | None:
        if not self._is_native():
            return None
        if not self._info.present:
            raise SegFormatError(f"{self.name}: has no Pixel Data")
        return self._info.read_native()

    def _fast_decode(self, ts: UID, shape: Shape, bits: int) -> np.ndarray | None:
        """Decode frames straight from the fragment offsets the bulk reader found (None: let pydicom try)."""
        from labelmap.dicom.pixels.codecs import decode_frames

        info = self._info
        if not info.encapsulated or (self._eot and ts != DEFLATED_IMAGE_FRAME):
            return None  # (Deflated Image Frame Compression has one fragment per frame: no table needed)
        n, rows, columns = shape
        try:
            per_frame = info.frame_fragments(n)
        except DicomFormatError as exc:
            # every frame needs a fragment; RLE frames split over fragments cannot be told apart
            # without the offset table; pydicom can find JPEG frames by their markers
            if len(info.fragments) < n or ts in (RLE_LOSSLESS, DEFLATED_IMAGE_FRAME):
                raise seg_error(exc) from None
            return None
        source: Any = info.buffer
        if source is None:  # mapped, not read: only the fragments' pages are touched
            import mmap

            try:
                with open(info.path, "rb") as fh:
                    source = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError) as exc:
                raise SegFormatError(f"{self.name}: cannot map the file ({exc})") from None
        fragments = [b"".join(bytes(source[o : o + size]) for o, size in frags) for frags in per_frame]
        if source is not info.buffer:
            source.close()
        try:
            frames = decode_frames(fragments, ts, rows=rows, columns=columns, bits_allocated=bits)
        except SegFormatError as exc:
            raise SegFormatError(f"{self.name}: {exc}") from None
        except LabelmapError:
            raise
        except Exception as exc:
            raise SegFormatError(f"{self.name}: cannot decode {ts.name} pixel data ({exc})") from None
        return frames.reshape(shape)

    def _pixel_array(self) -> np.ndarray:
        import pydicom

        try:
            ds = pydicom.dcmread(self.name)
        except Exception as exc:
            raise SegFormatError(f"{self.name}: cannot be parsed as DICOM ({type(exc).__name__}: {exc})") from None
        return np.asarray(ds.pixel_array)


class DatasetPixels(PixelSource):
    """``PixelData`` of a pydicom Dataset (decoded by pydicom when compressed)."""

    def __init__(self, name: str, ds: Dataset) -> None:
        self.name = name
        self.location: PixelDataInfo | None = None
        meta = getattr(ds, "file_meta", None)
        ts = meta.get("TransferSyntaxUID", None) if meta is not None else None
        self.transfer_syntax: str | None = str(ts) if ts else None
        self._ds = ds

    def native_bytes(self) -> np.ndarray | None:
        if not self._is_native():
            return None
        if "PixelData" not in self._ds:
            raise SegFormatError(f"{self.name}: has no Pixel Data")
        data = self._ds.PixelData
        if not isinstance(data, (bytes, bytearray, memoryview)):
            what = "empty" if data is None else type(data).__name__
            raise SegFormatError(f"{self.name}: Pixel Data (7FE0,0010) is {what}, not bytes")
        return np.frombuffer(data, dtype=np.uint8)

    def _fast_decode(self, ts: UID, shape: Shape, bits: int) -> np.ndarray | None:
        """Deflated Image Frame Compression, which pydicom 3.0 cannot decode: one fragment per frame."""
        if ts != DEFLATED_IMAGE_FRAME:
            return None
        from pydicom.encaps import generate_frames

        from labelmap.dicom.pixels.codecs import decode_frames

        n, rows, columns = shape
        try:
            fragments = list(generate_frames(self._ds.PixelData, number_of_frames=n))
        except Exception as exc:  # pydicom raises several types on damaged items
            raise SegFormatError(f"{self.name}: cannot split the encapsulated Pixel Data into frames ({exc})") from None
        if len(fragments) != n:
            raise SegFormatError(f"{self.name}: Pixel Data holds {len(fragments)} frames, expected {n}")
        try:
            frames = decode_frames(fragments, ts, rows=rows, columns=columns, bits_allocated=bits)
        except SegFormatError as exc:
            raise SegFormatError(f"{self.name}: {exc}") from None
        return frames.reshape(shape)

    def _pixel_array(self) -> np.ndarray:
        return np.asarray(self._ds.pixel_array)
