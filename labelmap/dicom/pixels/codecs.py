"""Transfer syntaxes and frame-level lossless codecs for SEG Pixel Data.

Every syntax labelmap writes is lossless (bit-exact):

========== ================================ ======================================
name       transfer syntax                  how
========== ================================ ======================================
none       Explicit VR Little Endian        native frames
implicit   Implicit VR Little Endian        native frames
deflate    Deflated Explicit VR LE          *dataset-level*: pydicom deflates the
                                            whole data set after the file meta on
                                            write; there is no per-frame codec
rle        RLE Lossless                     encoded by labelmap's own kernel
                                            (:func:`labelmap.kernels.rle_encode_frames`,
                                            Cython, no GIL); decoded by
                                            ``pylibjpeg-rle`` (Rust) when installed,
                                            else pydicom's own NumPy RLE
jpegls     JPEG-LS Lossless                 ``pyjpegls`` (CharLS), NEAR = 0
j2k        JPEG 2000 Lossless               ``pylibjpeg-openjpeg`` (reversible 5-3
                                            wavelet, one layer, no MCT); frames
                                            below 32 px in a dimension need
                                            ``imagecodecs`` (see below)
========== ================================ ======================================

Frame layout and parameters:

* 8-bit frames (LABELMAP up to 255 segments, FRACTIONAL) are coded with precision 8,
  16-bit LABELMAP frames with precision 16 (``BitsStored`` = ``BitsAllocated``), so a
  reader that checks the codestream precision against Bits Stored agrees.
* RLE: one byte segment per 8-bit frame, two for 16-bit (most significant byte
  first), as PS3.5 Annex G requires; each row PackBits-coded on its own, runs of 3 or
  more as replicate runs, a run of 2 inside a literal run merged into it (G.3.1's note;
  pydicom and pylibjpeg-rle always replicate it), segments padded to even length with a
  zero byte.  The frames are coded in one call, on two threads for 4 MiB or more
  (512x512x298 uint8 label map on 2 cores: 7 ms, 12 ms on one thread; pylibjpeg-rle
  took 0.8 s).
* BINARY (Bits Allocated 1) may only use ``none``, ``implicit``, ``deflate`` and
  ``j2k`` (:func:`allowed_for`).  For ``j2k`` each frame is coded as a 1-bit
  greyscale image (precision 1, like highdicom does), from and to uint8 0/1 arrays.

Threads: none of the codec packages measured here releases the GIL while it codes
(pyjpegls, pylibjpeg-openjpeg and pylibjpeg-rle all hold it), so a thread pool only
adds overhead; ``threads=None`` therefore codes serially, and an explicit
``threads > 1`` uses a :class:`~concurrent.futures.ThreadPoolExecutor` for the codecs
that are thread-safe.  RLE encoding is the exception: its kernel runs without the GIL
and splits the frames itself (``threads=None``: two threads for big inputs).
pylibjpeg-openjpeg's *encoder* crashes (segfault) when called from two threads at
once, so JPEG 2000 encoding is always serial.

Offset tables: :func:`encapsulate_frames` writes one fragment per frame and fills
the Basic Offset Table whenever every offset fits in 32 bits (< 4 GiB of
fragments); an Extended Offset Table is written only when it is needed (>= 4 GiB,
where the BOT cannot hold the offsets) or asked for (``extended_offset_table=True``).
Below 4 GiB the EOT adds nothing a BOT does not give and some readers ignore it,
so the default keeps the widely supported BOT.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import struct
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

from labelmap.dicom.uids import TRANSFER_SYNTAXES, allowed_for
from labelmap.errors import InputError, MissingDependencyError, SegFormatError, UnsupportedError

__all__ = [
    "SYNTAXES",
    "is_available",
    "check_available",
    "decoder_requirements",
    "allowed_for",
    "encode_frames",
    "decode_frames",
    "encapsulate_frames",
    "native_frames",
    "decode_pixel_data",
    "compress_dataset",
    "rle_backend",
]

#: Names accepted by ``--compression`` mapped to their transfer syntax.
SYNTAXES: dict[str, UID] = {name: UID(uid) for name, uid in TRANSFER_SYNTAXES.items()}

#: syntaxes whose Pixel Data is native (the dataset may still be deflated as a whole)
_NATIVE = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian)
#: frame codecs (encapsulated Pixel Data)
_FRAME_CODECS = (RLELossless, JPEGLSLossless, JPEG2000Lossless)

#: transfer syntax -> (import name, pip package) it strictly needs to encode and decode
_REQUIREMENTS: dict[str, tuple[str, str]] = {
    JPEGLSLossless: ("jpeg_ls", "pyjpegls"),
    JPEG2000Lossless: ("openjpeg", "pylibjpeg-openjpeg"),
}

#: smallest frame dimension pylibjpeg-openjpeg can encode (it always uses 6 resolutions)
_OPENJPEG_MIN_SIDE = 32

_MAX_BOT_OFFSET = 2**32 - 1


# --------------------------------------------------------------------------- lookup


def _as_uid(name_or_uid: str | UID) -> UID:
    key = str(name_or_uid)
    if key in SYNTAXES:
        return SYNTAXES[key]
    if key not in {str(u) for u in SYNTAXES.values()}:
        raise InputError(f"unknown transfer syntax {key!r}; choose one of: {', '.join(SYNTAXES)} (or their UIDs)")
    return UID(key)


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _import(module: str, package: str, purpose: str, ts: UID):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            f"{purpose} {ts.name} needs the package {package!r}: pip install {package}"
        ) from None


def decoder_requirements(ts: str | UID) -> tuple[str, str] | None:
    """(module, pip package) a transfer syntax needs beyond pydicom and NumPy, or None.

    RLE needs nothing (labelmap encodes it, pydicom decodes it); ``pylibjpeg-rle`` only makes
    decoding faster.
    """
    return _REQUIREMENTS.get(str(ts))


def is_available(name_or_uid: str | UID) -> bool:
    """Whether the packages to encode and decode this syntax (a name of :data:`SYNTAXES` or a UID) are installed."""
    req = decoder_requirements(_as_uid(name_or_uid))
    return req is None or _has_module(req[0])


def check_available(ts: str | UID, *, purpose: str) -> None:
    """Raise :class:`MissingDependencyError` naming the pip package ``ts`` needs, if it is not installed.

    ``purpose`` starts the message ("writing", "reading").  Syntaxes labelmap does not
    know (e.g. a JPEG baseline SEG from another writer) pass: pydicom reports those.
    """
    try:
        uid = _as_uid(ts)
    except InputError:
        return
    req = decoder_requirements(uid)
    if req is not None and not _has_module(req[0]):
        raise MissingDependencyError(f"{purpose} {uid.name} needs the package {req[1]!r}: pip install {req[1]}")


def rle_backend() -> str:
    """The RLE *decoder*: ``"pylibjpeg-rle"`` when that package is installed, else ``"pydicom"``.

    Encoding always uses labelmap's kernel (:func:`labelmap.kernels.rle_encode_frames`).
    """
    return "pylibjpeg-rle" if _has_module("rle") else "pydicom"


# --------------------------------------------------------------------------- codecs


@dataclass(frozen=True)
class _Codec:
    encode: Callable[[np.ndarray], bytes]  # one 2-D frame -> codestream
    decode: Callable[[bytes], np.ndarray]  # codestream -> one 2-D frame (target dtype)
    encode_thread_safe: bool = True
    decode_thread_safe: bool = True
    #: all frames (F, rows, columns) at once -> one codestream each; ``threads`` as for encode_frames
    encode_many: Callable[[np.ndarray, int | None], list[bytes]] | None = None


def _dtype_for(bits_allocated: int) -> np.dtype:
    if bits_allocated in (1, 8):
        return np.dtype(np.uint8)
    if bits_allocated == 16:
        return np.dtype("<u2")
    raise UnsupportedError(f"Bits Allocated {bits_allocated} is not supported (1, 8 or 16)")


def _shaped(data, rows: int, columns: int, dtype: np.dtype, ts: UID) -> np.ndarray:
    arr = np.frombuffer(data, dtype=dtype)
    if arr.size < rows * columns:
        raise SegFormatError(f"a {ts.name} frame decoded to {arr.size} pixels, expected {rows} x {columns}")
    return arr[: rows * columns].reshape(rows, columns)


def _rle_segments(data: bytes, expected: int) -> list[bytes]:
    """The segments of an RLE Lossless frame (PS3.5 G.5), after checking its 64-byte header."""
    if len(data) < 64:
        raise SegFormatError(f"an RLE Lossless frame of {len(data)} bytes is shorter than its 64-byte header")
    header = struct.unpack_from("<16I", data)
    count, offsets = header[0], header[1:]
    if count != expected:
        raise SegFormatError(f"an RLE Lossless frame has {count} segments, expected {expected}")
    bounds = [*offsets[:count], len(data)]
    if bounds[0] != 64 or any(b <= a for a, b in zip(bounds, bounds[1:])):
        raise SegFormatError(
            f"an RLE Lossless frame header has segment offsets {list(offsets[:count])} that are not increasing "
            f"from 64 within its {len(data)} bytes"
        )
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def _rle_can_hold(segments: list[bytes], npx: int, rows: int, columns: int) -> None:
    """Each 2 bytes of a segment decode to at most 128: a frame too large for its segments is damaged
    (checked before pylibjpeg-rle allocates rows x columns)."""
    for segment in segments:
        if (len(segment) + 1) // 2 * 128 < npx:
            raise SegFormatError(
                f"an RLE Lossless segment of {len(segment)} bytes cannot hold {rows} x {columns} pixels"
            )


_RLE_ONE_SEGMENT = struct.pack("<16I", 1, 64, *[0] * 14)


def _rle_decode_16(data: bytes, rows: int, columns: int, decode_frame: Callable) -> np.ndarray:
    """A 16-bit RLE Lossless frame: segment 1 holds the high bytes, segment 2 the low bytes.

    Each segment is decoded as a one-segment 8-bit frame, the case pylibjpeg-rle bounds-checks
    (as fast as its own 16-bit path).
    """
    npx = rows * columns
    segments = _rle_segments(data, 2)
    _rle_can_hold(segments, npx, rows, columns)
    out = np.empty((npx, 2), dtype=np.uint8)
    for plane, segment in zip((1, 0), segments):
        try:
            decoded = decode_frame(_RLE_ONE_SEGMENT + segment, npx, 8, "<")
        except ValueError as exc:
            raise SegFormatError(f"cannot decode an RLE Lossless frame ({exc})") from None
        if len(decoded) != npx:
            raise SegFormatError(
                f"an RLE Lossless segment decoded to {len(decoded)} bytes, expected {rows} x {columns}"
            )
        out[:, plane] = np.frombuffer(decoded, dtype=np.uint8)
    return out.reshape(-1).view("<u2").reshape(rows, columns)


def _rle_encode_many(frames: np.ndarray, threads: int | None) -> list[bytes]:
    from labelmap.kernels import rle_encode_frames

    return rle_encode_frames(frames, threads=threads)


def _rle_encode_one(frame: np.ndarray) -> bytes:
    return _rle_encode_many(frame[None], 1)[0]


def _rle_codec(rows: int, columns: int, bits: int, purpose: str) -> _Codec:
    """RLE Lossless: encoded by labelmap's kernel, decoded by pylibjpeg-rle or pydicom."""
    dtype = _dtype_for(bits)
    if _has_module("rle"):
        from rle.rle import decode_frame

        npx = rows * columns

        def dec(data: bytes) -> np.ndarray:
            data = bytes(data)
            if bits == 16:
                # pylibjpeg-rle 2.2 panics (a Rust message on stderr, then PanicException)
                # when a segment of a 16-bit frame decodes too long: decode the byte planes
                # one by one instead.
                return _rle_decode_16(data, rows, columns, decode_frame)
            # (pylibjpeg-rle counts the offsets and ignores the segment count)
            _rle_can_hold(_rle_segments(data, 1), npx, rows, columns)
            try:
                out = decode_frame(data, npx, bits, "<")
            except ValueError as exc:
                raise SegFormatError(f"cannot decode an RLE Lossless frame ({exc})") from None
            return _shaped(out, rows, columns, dtype, RLELossless)

        return _Codec(_rle_encode_one, dec, encode_many=_rle_encode_many)

    from pydicom.encaps import encapsulate
    from pydicom.pixels import get_decoder

    opts = dict(
        rows=rows,
        columns=columns,
        samples_per_pixel=1,
        bits_allocated=bits,
        bits_stored=bits,
        pixel_representation=0,
        photometric_interpretation="MONOCHROME2",
        number_of_frames=1,
    )
    decoder = get_decoder(RLELossless)

    def dec_py(data: bytes) -> np.ndarray:
        try:
            arr, _ = decoder.as_array(encapsulate([bytes(data)]), decoding_plugin="pydicom", **opts)
        except Exception as exc:
            raise SegFormatError(f"cannot decode an RLE Lossless frame ({exc})") from None
        return np.asarray(arr, dtype=dtype).reshape(rows, columns)

    return _Codec(_rle_encode_one, dec_py, encode_many=_rle_encode_many)


def _jpegls_codec(rows: int, columns: int, bits: int, purpose: str) -> _Codec:
    jpeg_ls = _import("jpeg_ls", "pyjpegls", purpose, JPEGLSLossless)
    dtype = _dtype_for(bits)

    def enc(frame: np.ndarray) -> bytes:
        # encode_buffer with an explicit precision: encode_array derives it from the
        # frame's maximum and fails on all-zero frames.
        try:
            return bytes(jpeg_ls.encode_buffer(frame.tobytes(), rows, columns, 1, bits, lossy_error=0))
        except RuntimeError as exc:
            # pyjpegls sizes its output buffer from the pixel count: frames of up to ~130 pixels
            # (plus the codestream header) do not fit.  imagecodecs' CharLS sizes it properly and
            # writes the same lossless codestream (precision from the dtype: 8 or 16 bits).
            if "too small" not in str(exc):
                raise
            if not _has_module("imagecodecs"):
                raise UnsupportedError(
                    f"JPEG-LS encoding of {rows} x {columns} frames: pyjpegls cannot code frames this "
                    "small; pip install imagecodecs, or choose another compression"
                ) from None
            import imagecodecs

            return bytes(imagecodecs.jpegls_encode(np.ascontiguousarray(frame, dtype=dtype), level=0))

    def dec(data: bytes) -> np.ndarray:
        try:
            out, info = jpeg_ls.decode_buffer(bytes(data))
        except Exception as exc:
            raise SegFormatError(f"cannot decode a JPEG-LS frame ({exc})") from None
        if (info["height"], info["width"], info["components"]) != (rows, columns, 1):
            raise SegFormatError(
                f"a JPEG-LS frame is {info['height']} x {info['width']} x {info['components']}, "
                f"expected {rows} x {columns} x 1"
            )
        if info.get("allowed_lossy_error", 0):
            raise SegFormatError("a frame of a JPEG-LS Lossless SEG is near-lossless coded")
        src_dtype = np.uint8 if info["bits_per_sample"] <= 8 else np.dtype("<u2")
        return _shaped(out, rows, columns, src_dtype, JPEGLSLossless).astype(dtype, copy=False)

    return _Codec(enc, dec)


def _j2k_codec(rows: int, columns: int, bits: int, purpose: str) -> _Codec:
    openjpeg = _import("openjpeg", "pylibjpeg-openjpeg", purpose, JPEG2000Lossless)
    dtype = _dtype_for(bits)
    small = min(rows, columns) < _OPENJPEG_MIN_SIDE
    imagecodecs = None
    if small and purpose == "writing":
        if _has_module("imagecodecs"):
            import imagecodecs
        else:
            raise UnsupportedError(
                f"JPEG 2000 encoding of {rows} x {columns} frames: pylibjpeg-openjpeg needs at least "
                f"{_OPENJPEG_MIN_SIDE} pixels in each dimension; pip install imagecodecs, or choose "
                "another compression"
            )

    def enc(frame: np.ndarray) -> bytes:
        arr = frame.astype(bool) if bits == 1 else frame
        if imagecodecs is not None:
            return bytes(
                imagecodecs.jpeg2k_encode(
                    arr if bits != 1 else arr.astype(np.uint8),
                    level=0,
                    codecformat="J2K",
                    reversible=True,
                    mct=False,
                    bitspersample=bits,
                )
            )
        return bytes(openjpeg.encode(arr, bits_stored=bits, photometric_interpretation=2, use_mct=False))

    def dec(data: bytes) -> np.ndarray:
        try:
            out = np.asarray(openjpeg.decode(bytes(data)))
        except Exception as exc:
            raise SegFormatError(f"cannot decode a JPEG 2000 frame ({exc})") from None
        if out.shape != (rows, columns):
            raise SegFormatError(f"a JPEG 2000 frame is {out.shape}, expected {rows} x {columns}")
        if out.dtype.kind == "i" and out.size and out.min() < 0:
            raise SegFormatError("a JPEG 2000 frame holds negative values")
        return out.astype(dtype, copy=False)

    return _Codec(enc, dec, encode_thread_safe=False)


_CODEC_FACTORIES = {
    RLELossless: _rle_codec,
    JPEGLSLossless: _jpegls_codec,
    JPEG2000Lossless: _j2k_codec,
}


def _codec(ts: UID, rows: int, columns: int, bits: int, purpose: str) -> _Codec:
    if ts in _NATIVE:
        what = "deflates the whole data set" if ts == DeflatedExplicitVRLittleEndian else "is native"
        raise InputError(f"{ts.name} {what}: it has no frame codec (write native Pixel Data instead)")
    if bits == 1 and ts != JPEG2000Lossless:
        raise UnsupportedError(
            f"1-bit BINARY frames cannot be coded as {ts.name}; use one of {', '.join(allowed_for('BINARY'))}"
        )
    _dtype_for(bits)
    return _CODEC_FACTORIES[ts](rows, columns, bits, purpose)


def _map(fn, items: Sequence, threads: int | None, thread_safe: bool) -> list:
    n = 1 if threads is None else int(threads)
    if n <= 0:
        n = os.cpu_count() or 1
    n = min(n, len(items))
    if n <= 1 or not thread_safe:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(fn, items))


def encode_frames(frames: np.ndarray, ts: str | UID, *, bits_allocated: int, threads: int | None = None) -> list[bytes]:
    """Encode each frame of ``frames`` (F, rows, columns) to one codestream of ``ts``.

    ``frames`` is uint8 (``bits_allocated`` 8, or 1 with values 0/1 for BINARY ``j2k``)
    or uint16 (``bits_allocated`` 16).  Only frame codecs are accepted (``rle``,
    ``jpegls``, ``j2k``): native syntaxes and Deflated Explicit VR Little Endian -- which
    deflates the whole data set, not frames -- raise :class:`InputError`.

    ``threads``: None (default) codes serially, since none of the codec packages
    releases the GIL; ``n > 1`` uses a thread pool of ``n`` for thread-safe codecs;
    ``0`` or less uses one per core.  JPEG 2000 encoding is always serial (its package
    is not thread-safe).  RLE is coded by labelmap's kernel without the GIL, all frames
    in one call: None lets it use two threads for 4 MiB of frames or more.
    """
    uid = _as_uid(ts)
    arr = np.asarray(frames)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise InputError(f"frames must be (F, rows, columns), got shape {arr.shape}")
    dtype = _dtype_for(bits_allocated)
    if arr.dtype != dtype:
        if arr.dtype.kind not in "ub" or arr.dtype.itemsize > dtype.itemsize:
            raise InputError(f"{bits_allocated}-bit frames must be {dtype}, got {arr.dtype}")
        arr = arr.astype(dtype)
    if bits_allocated == 1 and arr.size and arr.max() > 1:
        raise InputError("1-bit BINARY frames must hold only 0 and 1")
    _, rows, columns = arr.shape
    check_available(uid, purpose="writing")
    codec = _codec(uid, rows, columns, bits_allocated, "writing")
    if codec.encode_many is not None:
        return codec.encode_many(arr, threads)
    return _map(lambda f: codec.encode(np.ascontiguousarray(f)), list(arr), threads, codec.encode_thread_safe)


def decode_frames(
    fragments_per_frame: Sequence[bytes],
    ts: str | UID,
    *,
    rows: int,
    columns: int,
    bits_allocated: int,
    threads: int | None = None,
) -> np.ndarray:
    """Decode one codestream per frame to an (F, rows, columns) uint8 / uint16 array.

    ``bits_allocated`` 1 (BINARY ``j2k``) gives uint8 0/1.  A frame split over several
    fragments must be joined by the caller (``pydicom.encaps.generate_frames`` does).
    ``threads`` as for :func:`encode_frames`.
    """
    uid = _as_uid(ts)
    dtype = _dtype_for(bits_allocated)
    if not len(fragments_per_frame):
        return np.empty((0, rows, columns), dtype=dtype)
    check_available(uid, purpose="reading")
    codec = _codec(uid, rows, columns, bits_allocated, "reading")

    def decode(i: int) -> np.ndarray:
        try:
            return codec.decode(fragments_per_frame[i])
        except SegFormatError as exc:
            raise SegFormatError(f"frame {i + 1}: {exc}") from None

    # the output is allocated once the first frame has shown that rows x columns are real
    # (damaged Rows / Columns must not allocate gigabytes before any frame is decoded)
    first = decode(0)
    out = np.empty((len(fragments_per_frame), rows, columns), dtype=dtype)
    out[0] = first

    def one(i: int) -> None:
        out[i] = decode(i)

    _map(one, range(1, len(fragments_per_frame)), threads, codec.decode_thread_safe)
    if bits_allocated == 1 and out.size and out.max() > 1:
        bad = int(np.flatnonzero(out.reshape(len(out), -1).max(axis=1) > 1)[0])
        raise SegFormatError(f"frame {bad + 1}: a 1-bit JPEG 2000 frame decoded to values other than 0 and 1")
    return out


# --------------------------------------------------------------------------- encapsulation


def _item(fragment: bytes) -> list[bytes]:
    pad = len(fragment) % 2
    parts = [struct.pack("<HHI", 0xFFFE, 0xE000, len(fragment) + pad), fragment]
    if pad:
        parts.append(b"\0")
    return parts


def encapsulate_frames(
    fragments: Sequence[bytes], *, extended_offset_table: bool | None = None
) -> tuple[bytes, bytes | None, bytes | None]:
    """Encapsulate one codestream per frame (PS3.5 A.4).

    Returns ``(pixel_data, extended_offset_table, extended_offset_table_lengths)``;
    the last two are None unless an Extended Offset Table is written.  Each frame is
    one fragment, padded to even length.

    ``extended_offset_table``: None (default) writes a Basic Offset Table when every
    frame offset fits in 32 bits and an Extended Offset Table (with an empty BOT, as
    the standard requires) only when they do not (>= 4 GiB); True always writes the
    EOT; False never does (an empty BOT when the offsets do not fit).
    """
    offsets: list[int] = []
    padded: list[int] = []
    pos = 0
    for frag in fragments:
        offsets.append(pos)
        n = len(frag) + len(frag) % 2
        padded.append(n)
        pos += 8 + n
    fits = not offsets or offsets[-1] <= _MAX_BOT_OFFSET
    use_eot = extended_offset_table if extended_offset_table is not None else not fits
    if use_eot or not fits:
        bot = struct.pack("<HHI", 0xFFFE, 0xE000, 0)
    else:
        bot = struct.pack(f"<HHI{len(offsets)}I", 0xFFFE, 0xE000, 4 * len(offsets), *offsets)
    parts = [bot]
    for frag in fragments:
        parts.extend(_item(bytes(frag) if not isinstance(frag, bytes) else frag))
    pixel_data = b"".join(parts)
    if not use_eot:
        return pixel_data, None, None
    n = len(offsets)
    return pixel_data, struct.pack(f"<{n}Q", *offsets), struct.pack(f"<{n}Q", *padded)


def decode_pixel_data(
    pixel_data: bytes,
    ts: str | UID,
    *,
    number_of_frames: int,
    rows: int,
    columns: int,
    bits_allocated: int,
    extended_offsets: tuple[bytes, bytes] | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """Decode an encapsulated Pixel Data value of ``ts`` to (F, rows, columns) frames."""
    from pydicom.encaps import generate_frames

    try:
        frames = list(generate_frames(pixel_data, number_of_frames=number_of_frames, extended_offsets=extended_offsets))
    except Exception as exc:
        raise SegFormatError(f"cannot split encapsulated Pixel Data into frames ({exc})") from None
    if len(frames) != number_of_frames:
        raise SegFormatError(f"encapsulated Pixel Data holds {len(frames)} frames, expected {number_of_frames}")
    return decode_frames(frames, ts, rows=rows, columns=columns, bits_allocated=bits_allocated, threads=threads)


# --------------------------------------------------------------------------- datasets


def _native_frames(ds: Dataset) -> np.ndarray:
    return native_frames(
        np.frombuffer(ds.PixelData, dtype=np.uint8),
        int(ds.get("NumberOfFrames", 1) or 1),
        int(ds.Rows),
        int(ds.Columns),
        int(ds.BitsAllocated),
    )


def native_frames(raw: np.ndarray, n: int, rows: int, columns: int, bits: int) -> np.ndarray:
    """Native Pixel Data bytes (uint8) as (n, rows, columns) frames, 1-bit data unpacked
    (LSB first, continuous across frames) to one 0/1 byte per pixel, as the frame codecs take it."""
    npx = n * rows * columns
    if bits == 1:
        need = (npx + 7) // 8
        if raw.size < need:
            raise SegFormatError(f"Pixel Data holds {raw.size} bytes, {n} 1-bit frames need {need}")
        return np.unpackbits(raw[:need], bitorder="little", count=npx).reshape(n, rows, columns)
    dtype = _dtype_for(bits)
    need = npx * dtype.itemsize
    if raw.size < need:
        raise SegFormatError(f"Pixel Data holds {raw.size} bytes, {n} {bits}-bit frames need {need}")
    return raw[:need].view(dtype).reshape(n, rows, columns)


def compress_dataset(
    ds: Dataset,
    ts: str | UID,
    *,
    threads: int | None = None,
    extended_offset_table: bool | None = None,
) -> None:
    """Set ``ds``'s transfer syntax to ``ts``, compressing its native Pixel Data in place.

    Frame codecs (RLE, JPEG-LS, JPEG 2000) replace Pixel Data with the encapsulated
    frames (VR OB, undefined length, BOT / EOT as :func:`encapsulate_frames`); the
    native syntaxes and Deflated Explicit VR Little Endian only set the file meta's
    Transfer Syntax UID (pydicom deflates on write).  1-bit BINARY Pixel Data is
    unpacked first.  The SOP Instance UID is kept.
    """
    uid = _as_uid(ts)
    if not hasattr(ds, "file_meta") or ds.file_meta is None:
        from pydicom.dataset import FileMetaDataset

        ds.file_meta = FileMetaDataset()
    current = ds.file_meta.get("TransferSyntaxUID", None)
    if current is not None and UID(current).is_compressed:
        raise InputError(f"the dataset is already compressed ({UID(current).name})")
    if uid in _FRAME_CODECS:
        bits = int(ds.BitsAllocated)
        if bits == 1 and uid != JPEG2000Lossless:
            raise UnsupportedError(
                f"{uid.name} is not allowed for 1-bit BINARY frames; use one of {', '.join(allowed_for('BINARY'))}"
            )
        frames = _native_frames(ds)
        pixel_data, eot, eot_lengths = encapsulate_frames(
            encode_frames(frames, uid, bits_allocated=bits, threads=threads),
            extended_offset_table=extended_offset_table,
        )
        ds.PixelData = pixel_data
        elem = ds["PixelData"]
        elem.VR = "OB"
        elem.is_undefined_length = True
        for kw in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
            if kw in ds:
                del ds[kw]
        if eot is not None:
            ds.ExtendedOffsetTable = eot
            ds.ExtendedOffsetTableLengths = eot_lengths
    ds.file_meta.TransferSyntaxUID = uid
