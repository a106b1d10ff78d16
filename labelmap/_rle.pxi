# Included by labelmap/_core.pyx (one extension): RLE Lossless (PS3.5 Annex G) decoding.
#
# One segment is a PackBits stream (G.3.2): a header byte n, then n + 1 literal bytes for
# 0 <= n <= 127, one byte repeated 1 - n times for -127 <= n <= -1, nothing for -128.
# Decoded bytes go to out[offset + i * stride], so a 16-bit frame's two byte planes fill one
# little-endian buffer.  The caller checks sizes: nothing here validates user input.


cdef Py_ssize_t _packbits_decode(const uint8_t* src, Py_ssize_t n_src, uint8_t* out, Py_ssize_t n_out,
                                 Py_ssize_t stride) noexcept nogil:
    """Decode up to n_out bytes; returns the count, or -1 when a run would overflow the frame."""
    cdef Py_ssize_t p = 0, q = 0, k, count
    cdef int h
    cdef uint8_t v
    while q < n_out and p < n_src:
        h = <signed char>src[p]
        p += 1
        if h >= 0:
            count = h + 1
            if p + count > n_src:
                count = n_src - p  # a literal run cut by the segment's end: what is there
            if q + count > n_out:
                return -1
            for k in range(count):
                out[(q + k) * stride] = src[p + k]
            p += count
            q += count
        elif h != -128:
            count = 1 - h
            if p >= n_src:
                break
            if q + count > n_out:
                return -1
            v = src[p]
            p += 1
            for k in range(count):
                out[(q + k) * stride] = v
            q += count
    return q


def rle_decode_segment(const uint8_t[::1] segment, uint8_t[::1] out, Py_ssize_t offset, Py_ssize_t stride,
                       Py_ssize_t count):
    """Decode one RLE segment into ``out[offset::stride]`` (``count`` bytes wanted); returns the
    bytes decoded, or -1 when a run would pass ``count`` (a damaged frame).  Runs without the GIL."""
    cdef Py_ssize_t got
    with nogil:
        got = _packbits_decode(&segment[0] if segment.shape[0] else NULL, segment.shape[0],
                               &out[offset], count, stride)
    return got
