# cython: language_level=3
"""Hot loops of labelmap.  Only ``labelmap.kernels`` imports this module.

Every function here is a typed loop over contiguous memoryviews that runs
without the GIL.  Callers guarantee shapes, dtypes and bounds: nothing in this
file validates user input.
"""

from libc.stdint cimport uint8_t, uint16_t, uint32_t, int32_t, int64_t, uint64_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy, memset

cdef extern from *:
    """
    /* bit index of the lowest set bit of x counted from the first byte in memory order
       (x != 0): a word loaded with memcpy on a little-endian machine is trailing zeros */
    #if defined(_MSC_VER)
    #include <intrin.h>
    static __inline int lm_first_set_bit(unsigned __int64 x) {
        unsigned long i; _BitScanForward64(&i, x); return (int)i;
    }
    #elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    static inline int lm_first_set_bit(unsigned long long x) { return __builtin_clzll(x); }
    #else
    static inline int lm_first_set_bit(unsigned long long x) { return __builtin_ctzll(x); }
    #endif
    """
    int _first_set_bit "lm_first_set_bit"(uint64_t x) noexcept nogil


ctypedef fused label_t:
    uint8_t
    uint16_t
    uint32_t

ctypedef fused out_t:
    uint8_t
    uint16_t


cdef inline uint64_t _broadcast(label_t v) noexcept nogil:
    """A 64-bit word whose every ``label_t`` lane holds ``v``."""
    if label_t is uint8_t:
        return <uint64_t>v * 0x0101010101010101ULL
    elif label_t is uint16_t:
        return <uint64_t>v * 0x0001000100010001ULL
    else:
        return <uint64_t>v * 0x0000000100000001ULL


cdef inline void _presence_row(const label_t* row, Py_ssize_t npix,
                               uint8_t* presence, int64_t* counts) noexcept nogil:
    """Mark the values of one row in ``presence`` and add their voxel counts to ``counts``."""
    # label maps are long runs of one value: compare 8-byte words with the current value
    # repeated, and take the position of the first different value from the lowest set bit
    # of their XOR (in memory order, whatever the byte order), so only run ends cost a step
    cdef Py_ssize_t lanes = 8 // sizeof(label_t)
    cdef int shift = 3 + (0 if sizeof(label_t) == 1 else (1 if sizeof(label_t) == 2 else 2))
    cdef Py_ssize_t p = 1, start = 0
    cdef label_t cur = row[0]
    cdef uint64_t pat = _broadcast(cur)
    cdef uint64_t w0, w1, x
    while True:
        # p: the first position not known to hold cur
        while p + 2 * lanes <= npix:
            memcpy(&w0, &row[p], 8)
            memcpy(&w1, &row[p + lanes], 8)
            if (w0 ^ pat) | (w1 ^ pat):
                x = w0 ^ pat
                if x:
                    p += _first_set_bit(x) >> shift
                else:
                    p += lanes + (_first_set_bit(w1 ^ pat) >> shift)
                break
            p += 2 * lanes
        else:
            while p < npix and row[p] == cur:
                p += 1
        if p >= npix:
            break
        presence[cur] = 1
        counts[cur] += p - start
        cur = row[p]
        start = p
        pat = _broadcast(cur)
        p += 1
    presence[cur] = 1
    counts[cur] += npix - start


def slice_label_presence(const label_t[:, ::1] labels,
                         uint8_t[:, ::1] presence,
                         int64_t[::1] counts):
    """For each slice row of ``labels`` (K x pixels), mark which values occur.

    ``presence[k, v]`` becomes 1 when value ``v`` occurs in slice ``k``;
    ``counts[v]`` accumulates the voxel count of ``v``.  Every value must be
    smaller than ``presence.shape[1]`` (the caller checks the maximum);
    ``presence`` has as many rows as ``labels``, whose rows are not empty.
    """
    cdef Py_ssize_t k
    cdef Py_ssize_t nk = labels.shape[0]
    cdef Py_ssize_t npix = labels.shape[1]
    with nogil:
        for k in range(nk):
            _presence_row(&labels[k, 0], npix, &presence[k, 0], &counts[0])


def remap_lut(const label_t[::1] labels, const out_t[::1] lut, out_t[::1] out):
    """``out[p] = lut[labels[p]]``; every label must index into ``lut``."""
    cdef Py_ssize_t p
    cdef Py_ssize_t n = labels.shape[0]
    with nogil:
        for p in range(n):
            out[p] = lut[labels[p]]


ctypedef fused wide_t:
    uint16_t
    uint32_t
    uint64_t


def narrow_to_u8(const wide_t[::1] src, uint8_t[::1] out):
    """``out[p] = src[p] & 0xFF`` for p < len(src) while every value fits; True when all are <= 255.

    ``src`` is not empty; ``out`` holds at least len(src) entries.  Works in blocks and stops after
    the first block holding a value above 255: ``out`` is then partly written.
    Signed data is passed as its unsigned view (a negative value has high bits
    set, so it does not fit either).
    """
    cdef Py_ssize_t n = src.shape[0]
    cdef Py_ssize_t lo = 0, hi, p
    cdef wide_t acc = 0
    cdef const wide_t* s
    cdef uint8_t* d
    s = &src[0]
    d = &out[0]
    with nogil:
        while lo < n:
            hi = lo + 32768 if n - lo > 32768 else n
            # OR of the block and a truncating copy: one read of the input, vectorised by the compiler
            for p in range(lo, hi):
                acc = acc | s[p]
                d[p] = <uint8_t>s[p]
            if acc >> 8:
                break
            lo = hi
    return (acc >> 8) == 0


# ---------------------------------------------------------------------------
# 1-bit frame streams.  Bit ``i`` of a stream lives in byte ``i >> 3`` at bit
# position ``i & 7`` (LSB first); frame ``f`` of ``npx`` pixels occupies bits
# ``f * npx .. f * npx + npx - 1`` with no padding between frames.
# ---------------------------------------------------------------------------

cdef inline void _pack_eq(const label_t* src, label_t val, Py_ssize_t n,
                          uint8_t* out, int64_t bit) noexcept nogil:
    """OR the bits ``src[p] == val`` (p < n) into ``out`` from stream bit ``bit``."""
    cdef Py_ssize_t p = 0
    cdef int64_t byte = bit >> 3
    cdef int sh = <int>(bit & 7)
    cdef uint8_t acc = 0
    if sh:
        while sh < 8 and p < n:
            acc |= <uint8_t>(src[p] == val) << sh
            p += 1
            sh += 1
        out[byte] |= acc
        byte += 1
    while p + 8 <= n:
        out[byte] = (<uint8_t>(src[p] == val)
                     | <uint8_t>(src[p + 1] == val) << 1
                     | <uint8_t>(src[p + 2] == val) << 2
                     | <uint8_t>(src[p + 3] == val) << 3
                     | <uint8_t>(src[p + 4] == val) << 4
                     | <uint8_t>(src[p + 5] == val) << 5
                     | <uint8_t>(src[p + 6] == val) << 6
                     | <uint8_t>(src[p + 7] == val) << 7)
        p += 8
        byte += 1
    if p < n:
        acc = 0
        sh = 0
        while p < n:
            acc |= <uint8_t>(src[p] == val) << sh
            p += 1
            sh += 1
        out[byte] |= acc


cdef inline void _pack_nz(const uint8_t* src, Py_ssize_t n,
                          uint8_t* out, int64_t bit) noexcept nogil:
    """OR the bits ``src[p] != 0`` (p < n) into ``out`` from stream bit ``bit``."""
    cdef Py_ssize_t p = 0
    cdef int64_t byte = bit >> 3
    cdef int sh = <int>(bit & 7)
    cdef uint8_t acc = 0
    cdef uint64_t w
    cdef int little = 1
    if sh:
        while sh < 8 and p < n:
            acc |= <uint8_t>(src[p] != 0) << sh
            p += 1
            sh += 1
        out[byte] |= acc
        byte += 1
    if (<uint8_t*>&little)[0] == 1:
        # 8 pixels per step: fold each byte onto its bit 0, then gather the
        # eight bit-0s into the top byte with one multiply (no carries)
        while p + 8 <= n:
            memcpy(&w, &src[p], 8)
            w |= w >> 4
            w |= w >> 2
            w |= w >> 1
            w &= 0x0101010101010101ULL
            out[byte] = <uint8_t>((w * 0x0102040810204080ULL) >> 56)
            p += 8
            byte += 1
    while p + 8 <= n:
        out[byte] = (<uint8_t>(src[p] != 0)
                     | <uint8_t>(src[p + 1] != 0) << 1
                     | <uint8_t>(src[p + 2] != 0) << 2
                     | <uint8_t>(src[p + 3] != 0) << 3
                     | <uint8_t>(src[p + 4] != 0) << 4
                     | <uint8_t>(src[p + 5] != 0) << 5
                     | <uint8_t>(src[p + 6] != 0) << 6
                     | <uint8_t>(src[p + 7] != 0) << 7)
        p += 8
        byte += 1
    if p < n:
        acc = 0
        sh = 0
        while p < n:
            acc |= <uint8_t>(src[p] != 0) << sh
            p += 1
            sh += 1
        out[byte] |= acc


cdef inline void _set_bits(uint8_t* out, int64_t start, int64_t stop) noexcept nogil:
    """Set stream bits start .. stop-1 (LSB first within each byte)."""
    cdef int64_t b0 = start >> 3
    cdef int64_t b1 = stop >> 3
    cdef int64_t b
    if b0 == b1:
        out[b0] |= <uint8_t>(((1 << (stop - start)) - 1) << (start & 7))
        return
    out[b0] |= <uint8_t>(0xFF << (start & 7))
    for b in range(b0 + 1, b1):
        out[b] = 0xFF
    if stop & 7:
        out[b1] |= <uint8_t>((1 << (stop & 7)) - 1)


def pack_label_frames(const label_t[:, ::1] labels,
                      const int64_t[::1] frame_slices,
                      const int64_t[::1] frame_values,
                      const int64_t[::1] order,
                      const int64_t[::1] group_starts,
                      int64_t[::1] lut,
                      uint8_t[::1] out,
                      int64_t bit_offset):
    """Pack frame ``f`` = ``labels[frame_slices[f]] == frame_values[f]`` into ``out``.

    Frame f's bits start at ``bit_offset + f * npx``.  ``labels`` is
    (K, npx); those bits of ``out`` must be zero and ``out`` must hold
    ceil((bit_offset + F * npx) / 8) bytes; slices index ``labels`` and values fit ``label_t``.  ``order``
    lists frame indices grouped by slice (group g is
    ``order[group_starts[g]:group_starts[g + 1]]``) and no (slice, value)
    pair may repeat within ``order``; frames left out of ``order`` are not
    packed.  ``lut`` (one entry per possible label value) must be all -1; it
    is returned so.  A slice with several frames is read once: each pixel
    sets one bit of the frame its value maps to.
    """
    cdef Py_ssize_t g, q, f, p, k
    cdef Py_ssize_t ng = group_starts.shape[0] - 1
    cdef Py_ssize_t npx = labels.shape[1]
    cdef int64_t fi
    cdef const label_t* src
    cdef label_t v
    with nogil:
        for g in range(ng):
            if group_starts[g + 1] - group_starts[g] == 1:
                f = order[group_starts[g]]
                _pack_eq(&labels[frame_slices[f], 0], <label_t>frame_values[f], npx,
                         &out[0], bit_offset + <int64_t>f * npx)
                continue
            k = frame_slices[order[group_starts[g]]]
            src = &labels[k, 0]
            for q in range(group_starts[g], group_starts[g + 1]):
                f = order[q]
                lut[frame_values[f]] = bit_offset + <int64_t>f * npx
            # walk runs of equal values: one lookup and one bit-range fill per run
            p = 0
            while p < npx:
                v = src[p]
                q = p + 1
                while q < npx and src[q] == v:
                    q += 1
                fi = lut[v]
                if fi >= 0:
                    _set_bits(&out[0], fi + p, fi + q)
                p = q
            for q in range(group_starts[g], group_starts[g + 1]):
                lut[frame_values[order[q]]] = -1


def pack_masks(const uint8_t[:, ::1] masks, uint8_t[::1] out):
    """Pack the (F, npx) masks (nonzero = 1) as one continuous bit stream into zeroed ``out``."""
    cdef Py_ssize_t f
    cdef Py_ssize_t nf = masks.shape[0]
    cdef Py_ssize_t npx = masks.shape[1]
    with nogil:
        for f in range(nf):
            _pack_nz(&masks[f, 0], npx, &out[0], <int64_t>f * npx)


def paint_frames(const uint8_t[::1] packed,
                 const int64_t[::1] frame_index,
                 const int64_t[::1] frame_slices,
                 const int64_t[::1] frame_values,
                 out_t[:, ::1] out):
    """For each i and set bit p of stream frame ``frame_index[i]``: ``out[frame_slices[i], p] = frame_values[i]``.

    ``out`` is (K, npx); stream frame f's bits start at f * npx and
    ``packed`` holds them all; slices index ``out`` and values fit
    ``out_t``.  Later entries overwrite earlier ones.
    """
    cdef Py_ssize_t i, b, b0, b1, p
    cdef int t
    cdef Py_ssize_t nf = frame_index.shape[0]
    cdef Py_ssize_t npx = out.shape[1]
    cdef int64_t s
    cdef uint8_t byte
    cdef out_t val
    cdef out_t* dst
    with nogil:
        for i in range(nf):
            s = frame_index[i] * npx
            b0 = s >> 3
            b1 = (s + npx + 7) >> 3
            dst = &out[frame_slices[i], 0]
            val = <out_t>frame_values[i]
            for b in range(b0, b1):
                byte = packed[b]
                if byte == 0:
                    continue
                p = (b << 3) - s
                if p >= 0 and p + 8 <= npx:
                    for t in range(8):
                        if (byte >> t) & 1:
                            dst[p + t] = val
                else:
                    for t in range(8):
                        if (byte >> t) & 1 and p + t >= 0 and p + t < npx:
                            dst[p + t] = val


# ---------------------------------------------------------------------------
# Overlap counts are kept in a hash map from pair key (a * n_segments + b, a < b)
# to a count, so memory grows with the pairs that occur, not with n_segments**2.
# Open addressing, linear probing, power-of-two capacity, key -1 = empty slot.
# ---------------------------------------------------------------------------

cdef struct PairMap:
    int64_t* keys
    int64_t* counts
    Py_ssize_t cap
    Py_ssize_t size


cdef bint _pm_alloc(PairMap* m, Py_ssize_t cap) noexcept nogil:
    """Empty table of ``cap`` (a power of two) slots; False when out of memory."""
    m.keys = <int64_t*>malloc(cap * sizeof(int64_t))
    m.counts = <int64_t*>malloc(cap * sizeof(int64_t))
    if m.keys == NULL or m.counts == NULL:
        free(m.keys)
        free(m.counts)
        m.keys = NULL
        m.counts = NULL
        return False
    memset(m.keys, 0xFF, cap * sizeof(int64_t))
    m.cap = cap
    m.size = 0
    return True


cdef inline Py_ssize_t _pm_slot(const PairMap* m, int64_t key) noexcept nogil:
    cdef Py_ssize_t h = <Py_ssize_t>((<uint64_t>key * <uint64_t>0x9E3779B97F4A7C15) >> 20) & (m.cap - 1)
    while m.keys[h] != -1 and m.keys[h] != key:
        h = (h + 1) & (m.cap - 1)
    return h


cdef bint _pm_add(PairMap* m, int64_t key, int64_t n) noexcept nogil:
    """Add ``n`` to the count of ``key``; False when growing the table fails."""
    cdef PairMap old
    cdef Py_ssize_t i, h
    if (m.size + 1) * 2 > m.cap:
        old = m[0]
        if not _pm_alloc(m, old.cap * 2):
            m[0] = old
            return False
        for i in range(old.cap):
            if old.keys[i] != -1:
                h = _pm_slot(m, old.keys[i])
                m.keys[h] = old.keys[i]
                m.counts[h] = old.counts[i]
                m.size += 1
        free(old.keys)
        free(old.counts)
    h = _pm_slot(m, key)
    if m.keys[h] == -1:
        m.keys[h] = key
        m.counts[h] = 0
        m.size += 1
    m.counts[h] += n
    return True


cdef object _pm_export(PairMap* m):
    """(keys, counts) int64 arrays of the table, then free it."""
    import numpy as np
    keys = np.empty(m.size, dtype=np.int64)
    counts = np.empty(m.size, dtype=np.int64)
    cdef int64_t[::1] kv = keys
    cdef int64_t[::1] cv = counts
    cdef Py_ssize_t i, j = 0
    for i in range(m.cap):
        if m.keys[i] != -1:
            kv[j] = m.keys[i]
            cv[j] = m.counts[i]
            j += 1
    free(m.keys)
    free(m.counts)
    m.keys = NULL
    m.counts = NULL
    return keys, counts


cdef inline bint _add_pairs(int32_t* segs, Py_ssize_t n, int64_t n_segments, PairMap* pairs) noexcept nogil:
    """Sort the ``n`` segment ids in place, drop repeats and count every distinct pair once."""
    cdef Py_ssize_t i, j, m
    cdef int32_t x
    for i in range(1, n):
        x = segs[i]
        j = i - 1
        while j >= 0 and segs[j] > x:
            segs[j + 1] = segs[j]
            j -= 1
        segs[j + 1] = x
    m = 0
    for i in range(n):
        if m == 0 or segs[i] != segs[m - 1]:
            segs[m] = segs[i]
            m += 1
    for i in range(m):
        for j in range(i + 1, m):
            if not _pm_add(pairs, segs[i] * n_segments + segs[j], 1):
                return False
    return True


cdef inline int64_t _overlap_pass(const uint8_t* packed, int64_t s, Py_ssize_t npx, bint collect,
                                  int32_t seg, int32_t* count, const int32_t* start, int32_t* fill,
                                  int32_t* buf) noexcept nogil:
    """Walk the set bits of the frame at stream bit ``s``, the same way for both passes of frame_overlap.

    collect False: add 1 to ``count`` at each set pixel; returns the CSR slots this adds
    (2 when a pixel reaches 2 frames, 1 for each frame after).  collect True: append ``seg``
    to the slots (``start``, ``fill``) of each set pixel counted more than once; returns 0.
    """
    cdef Py_ssize_t b, p, pp
    cdef int t
    cdef int32_t c
    cdef uint8_t byte
    cdef int64_t added = 0
    for b in range(s >> 3, (s + npx + 7) >> 3):
        byte = packed[b]
        if byte == 0:
            continue
        p = (b << 3) - s
        for t in range(8):
            if (byte >> t) & 1:
                pp = p + t
                if pp < 0 or pp >= npx:
                    continue
                if collect:
                    if count[pp] > 1:
                        buf[start[pp] + fill[pp]] = seg
                        fill[pp] += 1
                else:
                    c = count[pp] + 1
                    count[pp] = c
                    if c == 2:
                        added += 2
                    elif c > 2:
                        added += 1
    return added


def frame_overlap(const uint8_t[::1] packed,
                  const int64_t[::1] order,
                  const int64_t[::1] group_starts,
                  const int32_t[::1] segments,
                  Py_ssize_t npx,
                  int64_t n_segments,
                  int32_t[::1] count,
                  int32_t[::1] start,
                  int32_t[::1] fill):
    """Pixel overlap between segments of 1-bit frames that share a position.

    ``order`` lists frame indices grouped by position; group g is
    ``order[group_starts[g]:group_starts[g + 1]]``.  ``segments[f]`` is the
    segment (< n_segments) of frame f, whose bits start at f * npx.
    ``count``, ``start`` and ``fill`` are int32 scratch arrays of npx entries.
    Returns (keys, counts): pair a < b as key a * n_segments + b, and its pixels.
    """
    cdef Py_ssize_t g, q, pp
    cdef Py_ssize_t ng = group_starts.shape[0] - 1
    cdef int64_t total, cap = 0, pos
    cdef int32_t* buf = NULL
    cdef int32_t* nbuf
    cdef bint failed = False
    cdef PairMap pairs
    if not _pm_alloc(&pairs, 64):
        raise MemoryError("frame_overlap: cannot allocate the pair table")
    with nogil:
        for g in range(ng):
            memset(&count[0], 0, npx * sizeof(int32_t))
            total = 0
            # pass 1: how many frames of this position cover each pixel
            for q in range(group_starts[g], group_starts[g + 1]):
                total += _overlap_pass(&packed[0], <int64_t>order[q] * npx, npx, False, 0,
                                       &count[0], &start[0], &fill[0], buf)
            if total == 0:
                continue
            # CSR slots for the pixels covered more than once
            if total > cap:
                nbuf = <int32_t*>realloc(buf, total * sizeof(int32_t))
                if nbuf == NULL:
                    failed = True
                    break
                buf = nbuf
                cap = total
            pos = 0
            for pp in range(npx):
                if count[pp] > 1:
                    start[pp] = <int32_t>pos
                    fill[pp] = 0
                    pos += count[pp]
            # pass 2: collect the segments at those pixels
            for q in range(group_starts[g], group_starts[g + 1]):
                _overlap_pass(&packed[0], <int64_t>order[q] * npx, npx, True, segments[order[q]],
                              &count[0], &start[0], &fill[0], buf)
            for pp in range(npx):
                if count[pp] > 1:
                    if not _add_pairs(&buf[start[pp]], count[pp], n_segments, &pairs):
                        failed = True
                        break
            if failed:
                break
        free(buf)
    if failed:
        free(pairs.keys)
        free(pairs.counts)
        raise MemoryError("frame_overlap: cannot allocate the overlap buffers")
    return _pm_export(&pairs)


def lut_segments(const label_t[::1] labels, const int32_t[::1] lut, int32_t[::1] seg):
    """``seg[p] = lut[labels[p]]``; every label must index into ``lut``."""
    cdef Py_ssize_t p
    cdef Py_ssize_t n = labels.shape[0]
    with nogil:
        for p in range(n):
            seg[p] = lut[labels[p]]


def segment_overlap(const int32_t[:, ::1] seg, Py_ssize_t n, int64_t n_segments):
    """Count the overlaps in the first ``n`` columns of the (M, B) segment-index rows (-1 = none).

    Returns (keys, counts): for every pair of distinct segments a < b present on one voxel,
    key a * n_segments + b and the number of such voxels (indices must be < n_segments).
    """
    cdef Py_ssize_t v, m, j
    cdef Py_ssize_t nm = seg.shape[0]
    cdef int32_t s
    cdef Py_ssize_t cnt
    cdef bint dup
    cdef bint failed = False
    cdef PairMap pairs
    cdef int32_t* buf = <int32_t*>malloc((nm + 1) * sizeof(int32_t))
    if buf == NULL or not _pm_alloc(&pairs, 64):
        free(buf)
        raise MemoryError()
    with nogil:
        for v in range(n):
            cnt = 0
            for m in range(nm):
                s = seg[m, v]
                if s >= 0:
                    dup = False
                    for j in range(cnt):
                        if buf[j] == s:
                            dup = True
                            break
                    if not dup:
                        buf[cnt] = s
                        cnt += 1
            if cnt > 1:
                if not _add_pairs(buf, cnt, n_segments, &pairs):
                    failed = True
                    break
    free(buf)
    if failed:
        free(pairs.keys)
        free(pairs.counts)
        raise MemoryError("segment_overlap: cannot allocate the pair table")
    return _pm_export(&pairs)


# ---------------------------------------------------------------------------
# RLE Lossless (PS3.5 Annex G).  A frame of ``rle_t`` pixels is one codestream:
# a 64-byte header (uint32 LE segment count, then 15 uint32 LE segment offsets
# from the start of the header, unused ones 0), then one PackBits segment per
# byte plane, most significant byte first, each padded to even length with a
# zero byte.  Every row of a plane is encoded on its own (runs never cross a
# row end).  Byte values are taken from the pixel values by shifts, so the
# pixels are native-endian and the output is the same on any host.
# ---------------------------------------------------------------------------

ctypedef fused rle_t:
    uint8_t
    uint16_t


cdef inline uint8_t _plane_byte(rle_t x, int sh) noexcept nogil:
    return <uint8_t>(x >> sh)


cdef inline Py_ssize_t _rle_run_end(const rle_t* row, Py_ssize_t p, Py_ssize_t n, int sh,
                                    uint8_t v) noexcept nogil:
    """First q > p whose plane byte differs from ``v`` (the byte at p), or n."""
    cdef Py_ssize_t q = p + 1
    cdef Py_ssize_t lanes = 8 // sizeof(rle_t)
    cdef int shift = 3 if sizeof(rle_t) == 1 else 4
    cdef uint64_t mask, pat, w0, w1, x0, x1
    if q >= n or _plane_byte(row[q], sh) != v:
        return q
    # long runs: compare 8-byte words with the byte repeated in this plane's lanes, and take
    # the first differing pixel from the lowest set bit of the XOR (in memory order)
    if rle_t is uint8_t:
        mask = 0xFFFFFFFFFFFFFFFFULL
        pat = <uint64_t>v * 0x0101010101010101ULL
    else:
        mask = (<uint64_t>0xFF << sh) * 0x0001000100010001ULL
        pat = (<uint64_t>v << sh) * 0x0001000100010001ULL
    q += 1
    while q + 2 * lanes <= n:
        memcpy(&w0, &row[q], 8)
        memcpy(&w1, &row[q + lanes], 8)
        if rle_t is uint8_t:
            x0 = w0 ^ pat
            x1 = w1 ^ pat
        else:
            x0 = (w0 ^ pat) & mask
            x1 = (w1 ^ pat) & mask
        if x0 | x1:
            if x0:
                return q + (_first_set_bit(x0) >> shift)
            return q + lanes + (_first_set_bit(x1) >> shift)
        q += 2 * lanes
    while q < n and _plane_byte(row[q], sh) == v:
        q += 1
    return q


cdef inline Py_ssize_t _rle_literal(const rle_t* row, Py_ssize_t a, Py_ssize_t b, int sh,
                                    uint8_t* out) noexcept nogil:
    """Write the plane bytes a .. b-1 of ``row`` as literal runs of up to 128; returns the bytes written."""
    cdef Py_ssize_t o = 0, k, i
    while a < b:
        k = b - a if b - a < 128 else 128
        out[o] = <uint8_t>(k - 1)
        o += 1
        if rle_t is uint8_t:
            memcpy(&out[o], &row[a], k)
        else:
            for i in range(k):
                out[o + i] = _plane_byte(row[a + i], sh)
        o += k
        a += k
    return o


cdef inline Py_ssize_t _rle_row(const rle_t* row, Py_ssize_t n, int sh, uint8_t* out) noexcept nogil:
    """PackBits-encode the plane bytes of one row into ``out``; returns the bytes written.

    Greedy: runs of 3 or more are replicate runs (PS3.5 G.3.1 requires it); a run of 2
    joins the pending literal run when one precedes it and a literal follows it (what the
    standard's note recommends: 2 bytes instead of 2 plus a new literal header), else it
    is a replicate run.  A run longer than 128 is cut into replicate runs of 128; a
    last byte left over starts the next literal run.  At most n + ceil(n / 128) bytes.
    """
    cdef Py_ssize_t p = 0, q, r, o = 0
    cdef Py_ssize_t lit = -1    # start of the pending literal run, or -1
    cdef uint8_t v
    while p < n:
        v = _plane_byte(row[p], sh)
        q = _rle_run_end(row, p, n, sh, v)
        r = q - p
        if r == 1 or (
            r == 2 and lit >= 0 and q < n
            and not (q + 2 < n and _plane_byte(row[q + 1], sh) == _plane_byte(row[q], sh)
                     and _plane_byte(row[q + 2], sh) == _plane_byte(row[q], sh))
        ):
            if lit < 0:
                lit = p
            p = q
            continue
        if lit >= 0:
            o += _rle_literal(row, lit, p, sh, &out[o])
            lit = -1
        while r > 128:
            out[o] = 129         # -127: 128 copies
            out[o + 1] = v
            o += 2
            r -= 128
        if r >= 2:
            out[o] = <uint8_t>(257 - r)   # 1 - r as a signed byte
            out[o + 1] = v
            o += 2
        else:
            lit = q - 1
        p = q
    if lit >= 0:
        o += _rle_literal(row, lit, n, sh, &out[o])
    return o


cdef inline void _put_u32le(uint8_t* out, uint32_t x) noexcept nogil:
    out[0] = <uint8_t>x
    out[1] = <uint8_t>(x >> 8)
    out[2] = <uint8_t>(x >> 16)
    out[3] = <uint8_t>(x >> 24)


cdef Py_ssize_t _rle_frame(const rle_t* src, Py_ssize_t rows, Py_ssize_t cols,
                           uint8_t* out) noexcept nogil:
    """One frame's RLE Lossless codestream into ``out``; returns its length (even)."""
    cdef int nseg = sizeof(rle_t)
    cdef int s, sh
    cdef Py_ssize_t r, o = 64, start
    memset(out, 0, 64)
    _put_u32le(out, <uint32_t>nseg)
    for s in range(nseg):
        _put_u32le(&out[4 + 4 * s], <uint32_t>o)
        sh = 8 * (nseg - 1 - s)
        start = o
        for r in range(rows):
            o += _rle_row(&src[r * cols], cols, sh, &out[o])
        if (o - start) & 1:
            out[o] = 0
            o += 1
    return o


def rle_encode(const rle_t[:, :, ::1] frames, uint8_t[::1] out, int64_t[::1] offsets):
    """RLE Lossless-encode each (rows, columns) frame of ``frames`` into ``out``, back to back.

    Frame f's codestream becomes ``out[offsets[f]:offsets[f + 1]]`` with
    ``offsets[0] = 0``; ``offsets`` has F + 1 entries.  ``out`` must hold
    F x (64 + planes x (rows x (columns + ceil(columns / 128)) + 1)) bytes (the
    worst case: literal runs only), every segment offset must fit 32 bits, and
    frames must have at least one pixel.
    """
    cdef Py_ssize_t f
    cdef Py_ssize_t nf = frames.shape[0]
    cdef Py_ssize_t rows = frames.shape[1]
    cdef Py_ssize_t cols = frames.shape[2]
    cdef int64_t pos = 0
    offsets[0] = 0
    with nogil:
        for f in range(nf):
            pos += _rle_frame(&frames[f, 0, 0], rows, cols, &out[pos])
            offsets[f + 1] = pos


# Frame tiling of slide label bands (band_to_tiles, tiles_to_band, count_values, pack_tile_bits,
# unpack_tile_bits, downsample_nearest): kept in its own file, compiled into this module.
include "_tiles.pxi"
include "_rle.pxi"
# The clean top-level element walk of a DICOM header (walk_header), for labelmap/kernels/walk.py.
include "_walk.pxi"
