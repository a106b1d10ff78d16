# Included by labelmap/_core.pyx (one extension): frame tiling of slide label bands.
#
# A band is up to ``tile_rows`` rows of a slide's total pixel matrix (h, W); its tiles
# are the (tile_rows, tile_columns) frames of one tile row in TILED_FULL order (left to
# right), zero past h rows and W columns.  Band views may have any row stride but
# contiguous columns (the wrappers in labelmap/kernels/tiles.py check it).  Callers
# guarantee shapes, dtypes and bounds: nothing here validates user input.

ctypedef fused tsrc_t:
    uint8_t
    uint16_t

ctypedef fused tdst_t:
    uint8_t
    uint16_t

cdef extern from *:
    """
    /* d[i] = s[i] (narrowed or widened) for i < n; returns the OR of the s[i].  restrict: the
       tile and the band never overlap, so the compiler vectorises copy and OR in one pass */
    #if defined(_MSC_VER)
    #define LM_RESTRICT __restrict
    #else
    #define LM_RESTRICT __restrict__
    #endif
    #define LM_COPY_OR(NAME, S, D) \
    static inline S NAME(const S* LM_RESTRICT s, D* LM_RESTRICT d, Py_ssize_t n) { \
        S acc = 0; \
        for (Py_ssize_t i = 0; i < n; i++) { d[i] = (D)s[i]; acc |= s[i]; } \
        return acc; \
    }
    LM_COPY_OR(lm_copy_or_8_8, uint8_t, uint8_t)
    LM_COPY_OR(lm_copy_or_8_16, uint8_t, uint16_t)
    LM_COPY_OR(lm_copy_or_16_8, uint16_t, uint8_t)
    LM_COPY_OR(lm_copy_or_16_16, uint16_t, uint16_t)
    """
    uint8_t _copy_or_8_8 "lm_copy_or_8_8"(const uint8_t* s, uint8_t* d, Py_ssize_t n) noexcept nogil
    uint8_t _copy_or_8_16 "lm_copy_or_8_16"(const uint8_t* s, uint16_t* d, Py_ssize_t n) noexcept nogil
    uint16_t _copy_or_16_8 "lm_copy_or_16_8"(const uint16_t* s, uint8_t* d, Py_ssize_t n) noexcept nogil
    uint16_t _copy_or_16_16 "lm_copy_or_16_16"(const uint16_t* s, uint16_t* d, Py_ssize_t n) noexcept nogil


cdef inline tsrc_t _copy_or(const tsrc_t* s, tdst_t* d, Py_ssize_t n) noexcept nogil:
    if tsrc_t is uint8_t:
        if tdst_t is uint8_t:
            return _copy_or_8_8(s, d, n)
        else:
            return _copy_or_8_16(s, d, n)
    else:
        if tdst_t is uint8_t:
            return _copy_or_16_8(s, d, n)
        else:
            return _copy_or_16_16(s, d, n)


def band_to_tiles(const tsrc_t[:, :] band, tdst_t[:, :, ::1] tiles, uint8_t[::1] present,
                  Py_ssize_t t0, Py_ssize_t t1):
    """Cut tiles t0 .. t1-1 of ``band`` (h, W) into ``tiles[t]`` (tile_rows, tile_columns), zero-padded.

    ``present[t]`` becomes 1 when a source pixel of tile t is non-zero.  h <= tile_rows;
    a narrowing copy keeps the low byte (the caller guarantees values fit).  The band is read
    row by row, in memory order (each row feeds every tile of the range).
    """
    cdef Py_ssize_t h = band.shape[0]
    cdef Py_ssize_t width = band.shape[1]
    cdef Py_ssize_t tr = tiles.shape[1]
    cdef Py_ssize_t tc = tiles.shape[2]
    cdef Py_ssize_t t, r, c0, cw
    cdef tdst_t* d
    with nogil:
        for t in range(t0, t1):
            present[t] = 0
        for r in range(h):
            for t in range(t0, t1):
                c0 = t * tc
                cw = width - c0 if width - c0 < tc else tc
                d = &tiles[t, r, 0]
                if _copy_or(&band[r, c0], d, cw):
                    present[t] = 1
                if cw < tc:
                    memset(&d[cw], 0, (tc - cw) * sizeof(tdst_t))
        if h < tr:
            for t in range(t0, t1):
                memset(&tiles[t, h, 0], 0, (tr - h) * tc * sizeof(tdst_t))


def tiles_to_band(const tsrc_t[:, :, ::1] tiles, tdst_t[:, :] band, Py_ssize_t t0, Py_ssize_t t1):
    """Copy tiles t0 .. t1-1 into ``band`` (h, W), cropping their padding (h <= tile_rows)."""
    cdef Py_ssize_t h = band.shape[0]
    cdef Py_ssize_t width = band.shape[1]
    cdef Py_ssize_t tc = tiles.shape[2]
    cdef Py_ssize_t t, r, c, c0, cw
    cdef const tsrc_t* s
    cdef tdst_t* d
    with nogil:
        # band rows in memory order: each is written whole, from every tile of the range
        for r in range(h):
            for t in range(t0, t1):
                c0 = t * tc
                cw = width - c0 if width - c0 < tc else tc
                s = &tiles[t, r, 0]
                d = &band[r, c0]
                if tsrc_t is tdst_t:
                    memcpy(d, s, cw * sizeof(tdst_t))
                else:
                    for c in range(cw):
                        d[c] = <tdst_t>s[c]


def count_values(const tsrc_t[:, :] band, uint8_t[::1] seen, int64_t[::1] counts):
    """Add the histogram of ``band`` (rows of at least one pixel) to ``counts``.

    ``seen`` and ``counts`` have one entry per possible value (256 or 65536); ``seen``
    is scratch (the values met are set to 1).  Long runs of one value cost one step.
    """
    cdef Py_ssize_t r
    cdef Py_ssize_t h = band.shape[0]
    cdef Py_ssize_t width = band.shape[1]
    with nogil:
        for r in range(h):
            _presence_row(&band[r, 0], width, &seen[0], &counts[0])


cdef inline uint8_t _match(tsrc_t x, bint eq, tsrc_t val) noexcept nogil:
    """1 when pixel ``x`` is inside the frame: ``x == val`` (eq), else ``x != 0``."""
    return <uint8_t>(x == val) if eq else <uint8_t>(x != 0)


cdef inline void _pack_row(const tsrc_t* src, Py_ssize_t n, bint eq, tsrc_t val,
                           uint8_t* out, int64_t bit) noexcept nogil:
    """OR the bits of ``src[p]`` (p < n) matching (see _match) into ``out`` from stream bit ``bit``.

    Whole output bytes take 8 pixels at once: each pixel lane of a 64-bit word is folded
    onto its lowest bit (non-zero after XOR with the value: a mismatch), and one multiply
    gathers the lanes' bits into a byte (no carries between the partial products).
    """
    cdef Py_ssize_t p = 0
    cdef int64_t byte = bit >> 3
    cdef int sh = <int>(bit & 7)
    cdef uint8_t acc = 0
    cdef uint64_t w, x, y, pat
    cdef int little = 1
    if sh:
        while sh < 8 and p < n:
            acc |= _match(src[p], eq, val) << sh
            p += 1
            sh += 1
        out[byte] |= acc
        byte += 1
    if (<uint8_t*>&little)[0] == 1:
        if tsrc_t is uint8_t:
            pat = <uint64_t>val * 0x0101010101010101ULL if eq else 0
            while p + 8 <= n:
                memcpy(&w, &src[p], 8)
                x = w ^ pat
                x |= x >> 4
                x |= x >> 2
                x |= x >> 1
                x &= 0x0101010101010101ULL
                if eq:
                    x ^= 0x0101010101010101ULL
                out[byte] = <uint8_t>((x * 0x0102040810204080ULL) >> 56)
                p += 8
                byte += 1
        else:
            pat = <uint64_t>val * 0x0001000100010001ULL if eq else 0
            while p + 8 <= n:
                memcpy(&w, &src[p], 8)
                x = w ^ pat
                x |= x >> 8
                x |= x >> 4
                x |= x >> 2
                x |= x >> 1
                x &= 0x0001000100010001ULL
                memcpy(&w, &src[p + 4], 8)
                y = w ^ pat
                y |= y >> 8
                y |= y >> 4
                y |= y >> 2
                y |= y >> 1
                y &= 0x0001000100010001ULL
                if eq:
                    x ^= 0x0001000100010001ULL
                    y ^= 0x0001000100010001ULL
                # lane i (bit 16 i) lands on bit 45 + i
                out[byte] = <uint8_t>((((x * 0x0000200040008001ULL) >> 45) & 0xF)
                                      | ((((y * 0x0000200040008001ULL) >> 45) & 0xF) << 4))
                p += 8
                byte += 1
    while p + 8 <= n:
        out[byte] = (_match(src[p], eq, val)
                     | _match(src[p + 1], eq, val) << 1
                     | _match(src[p + 2], eq, val) << 2
                     | _match(src[p + 3], eq, val) << 3
                     | _match(src[p + 4], eq, val) << 4
                     | _match(src[p + 5], eq, val) << 5
                     | _match(src[p + 6], eq, val) << 6
                     | _match(src[p + 7], eq, val) << 7)
        p += 8
        byte += 1
    if p < n:
        acc = 0
        sh = 0
        while p < n:
            acc |= _match(src[p], eq, val) << sh
            p += 1
            sh += 1
        out[byte] |= acc


cdef inline bint _any_bits(const uint8_t* out, int64_t start, int64_t stop) noexcept nogil:
    """True when a stream bit in start .. stop-1 is set."""
    cdef int64_t b0 = start >> 3
    cdef int64_t b1 = stop >> 3
    cdef int64_t b
    cdef uint8_t acc = 0
    if b0 == b1:
        return (out[b0] >> (start & 7)) & ((1 << (stop - start)) - 1) != 0
    if out[b0] >> (start & 7):
        return True
    for b in range(b0 + 1, b1):
        acc |= out[b]
    if acc:
        return True
    return (stop & 7) != 0 and (out[b1] & ((1 << (stop & 7)) - 1)) != 0


def pack_tile_bits(const tsrc_t[:, :] band, Py_ssize_t tile_rows, Py_ssize_t tile_columns,
                   int64_t value, uint8_t[::1] out, int64_t bit_offset, uint8_t[::1] present,
                   Py_ssize_t t0, Py_ssize_t t1):
    """OR the 1-bit frames of tiles t0 .. t1-1 of ``band`` into ``out``, LSB first.

    Tile t's pixel (r, c) is stream bit ``bit_offset + (t * tile_rows + r) * tile_columns + c``:
    ``band[r, t * tile_columns + c] == value`` (``value`` < 0: ``!= 0``), 0 in the padding.
    Those bits of ``out`` must be zero; ``present[t]`` becomes 1 when tile t has a set bit.
    Calls on disjoint tile ranges share at most the byte where the ranges meet.
    """
    cdef Py_ssize_t h = band.shape[0]
    cdef Py_ssize_t width = band.shape[1]
    cdef int64_t npx = <int64_t>tile_rows * tile_columns
    cdef Py_ssize_t t, r, c0, cw
    cdef int64_t s
    with nogil:
        for t in range(t0, t1):
            c0 = t * tile_columns
            cw = width - c0 if width - c0 < tile_columns else tile_columns
            s = bit_offset + t * npx
            for r in range(h):
                _pack_row(&band[r, c0], cw, value >= 0, <tsrc_t>(value if value >= 0 else 0),
                          &out[0], s + r * tile_columns)
            present[t] = _any_bits(&out[0], s, s + npx)


cdef uint8_t _SPREAD[256][8]


cdef void _init_spread() noexcept:
    cdef int b, k
    for b in range(256):
        for k in range(8):
            _SPREAD[b][k] = (b >> k) & 1


_init_spread()


def unpack_tile_bits(const uint8_t[::1] data, int64_t bit_offset, uint8_t[::1] out):
    """``out[i]`` = stream bit ``bit_offset + i`` of ``data`` (0 or 1), LSB first.

    ``data`` holds at least ceil((bit_offset + len(out)) / 8) bytes.
    """
    cdef Py_ssize_t n = out.shape[0]
    cdef Py_ssize_t groups = n >> 3
    cdef Py_ssize_t j, i
    cdef int64_t b0 = bit_offset >> 3
    cdef int sh = <int>(bit_offset & 7)
    cdef int64_t bit
    cdef uint8_t b
    with nogil:
        if sh == 0:
            for j in range(groups):
                memcpy(&out[j << 3], _SPREAD[data[b0 + j]], 8)
        else:
            # a group's 8 bits end in the next byte, which the stream holds
            for j in range(groups):
                b = <uint8_t>((data[b0 + j] >> sh) | (data[b0 + j + 1] << (8 - sh)))
                memcpy(&out[j << 3], _SPREAD[b], 8)
        for i in range(groups << 3, n):
            bit = bit_offset + i
            out[i] = (data[bit >> 3] >> (bit & 7)) & 1


def downsample_nearest(const tsrc_t[:, :] band, const int64_t[::1] row_index,
                       const int64_t[::1] col_index, tsrc_t[:, :] out, Py_ssize_t i0, Py_ssize_t i1):
    """``out[i, j] = band[row_index[i], col_index[j]]`` for rows i0 .. i1-1 (indices in range)."""
    cdef Py_ssize_t i, j
    cdef Py_ssize_t nc = col_index.shape[0]
    cdef const tsrc_t* s
    cdef tsrc_t* d
    with nogil:
        for i in range(i0, i1):
            s = &band[row_index[i], 0]
            d = &out[i, 0]
            for j in range(nc):
                d[j] = s[col_index[j]]
