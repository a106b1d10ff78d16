# Included by labelmap/_core.pyx (one extension): the top-level element walk of a DICOM header
# (Explicit or Implicit VR Little Endian), the clean common case only.
#
# walk_header steps over the top-level elements of buf from pos, records the wanted ones
# (tag, VR code, value offset, value length) and skips the others, walking undefined-length
# sequences and items (nested) to their delimiters.  Whenever anything is unusual it stops at
# the start of that element with WALK_PYTHON and the Python walker (labelmap/dicom/walk.py,
# labelmap/sources/headers.py) reads the element, with its errors and its window growth.
# labelmap/kernels/walk.py checks the arguments: nothing here validates user input.

cdef enum:
    WALK_STOP = 0     # at the stop tag (or, in the File Meta, the first element of another group)
    WALK_PYTHON = 1   # the element at pos needs the Python walker
    WALK_FULL = 2     # out is full; call again from pos

cdef enum:
    _UNDEFINED = 0xFFFFFFFF
    _ITEM = 0xFFFEE000
    _ITEM_DELIMITER = 0xFFFEE00D
    _SEQUENCE_DELIMITER = 0xFFFEE0DD
    _CHARSET = 0x00080005
    _VR_SQ = 0x5351   # b"SQ" as first byte << 8 | second byte
    _VR_UN = 0x554E


cdef inline uint32_t _le32(const uint8_t* p) noexcept nogil:
    return <uint32_t>p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)


cdef inline uint32_t _le16(const uint8_t* p) noexcept nogil:
    return <uint32_t>p[0] | (<uint32_t>p[1] << 8)


cdef inline uint32_t _tag_at(const uint8_t* p) noexcept nogil:
    return (_le16(p) << 16) | _le16(p + 2)


cdef inline int _vr_kind(uint32_t code) noexcept nogil:
    """2: a VR with a 32-bit length (PS3.5 7.1.2), 1: one with a 16-bit length, 0: not a VR of PS3.5."""
    if code in (0x4F42, 0x4F44, 0x4F46, 0x4F4C, 0x4F56, 0x4F57, 0x5351, 0x5356,   # OB OD OF OL OV OW SQ SV
                0x5543, 0x554E, 0x5552, 0x5554, 0x5556):                          # UC UN UR UT UV
        return 2
    if code in (0x4145, 0x4153, 0x4154, 0x4353, 0x4441, 0x4453, 0x4454, 0x4644,   # AE AS AT CS DA DS DT FD
                0x464C, 0x4953, 0x4C4F, 0x4C54, 0x504E, 0x5348, 0x534C, 0x5353,   # FL IS LO LT PN SH SL SS
                0x5354, 0x544D, 0x5549, 0x554C, 0x5553):                          # ST TM UI UL US
        return 1
    return 0


cdef inline bint _has(const uint32_t* tags, Py_ssize_t n, uint32_t tag) noexcept nogil:
    """Whether the ascending ``tags`` hold ``tag`` (binary search)."""
    cdef Py_ssize_t lo = 0, hi = n, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if tags[mid] < tag:
            lo = mid + 1
        else:
            hi = mid
    return lo < n and tags[lo] == tag


cdef Py_ssize_t _skip_items(const uint8_t* b, Py_ssize_t pos, Py_ssize_t limit, bint implicit, int depth,
                            int max_depth, int64_t* items, int64_t budget) noexcept nogil:
    """Offset after the undefined-length sequence whose items start at pos, or -1 if anything is unusual."""
    cdef uint32_t tag, length
    cdef Py_ssize_t end
    if depth > max_depth:
        return -1
    while True:
        if pos + 8 > limit:
            return -1
        tag = _tag_at(b + pos)
        length = _le32(b + pos + 4)
        if tag == _SEQUENCE_DELIMITER:
            return pos + 8
        if tag != _ITEM:
            return -1
        items[0] += 1
        if items[0] > budget:
            return -1
        if length == _UNDEFINED:
            pos = _skip_elements(b, pos + 8, -1, limit, implicit, depth, max_depth, items, budget)
        else:
            end = pos + 8 + <Py_ssize_t>length
            if end > limit:
                return -1
            pos = _skip_elements(b, pos + 8, end, end, implicit, depth, max_depth, items, budget)
        if pos < 0:
            return -1


cdef Py_ssize_t _skip_elements(const uint8_t* b, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t limit, bint implicit,
                               int depth, int max_depth, int64_t* items, int64_t budget) noexcept nogil:
    """Offset after an item's elements (up to end, or through the item delimiter when end < 0), or -1."""
    cdef uint32_t tag, length, code = 0
    cdef Py_ssize_t vpos
    cdef int kind
    while end < 0 or pos < end:
        if pos + 8 > limit:
            return -1
        tag = _tag_at(b + pos)
        if tag >> 16 == 0xFFFE:
            if tag == _ITEM_DELIMITER and end < 0:
                return pos + 8
            return -1
        if implicit:
            length = _le32(b + pos + 4)
            vpos = pos + 8
        else:
            code = (<uint32_t>b[pos + 4] << 8) | b[pos + 5]
            kind = _vr_kind(code)
            if kind == 2:
                if pos + 12 > limit:
                    return -1
                length = _le32(b + pos + 8)
                vpos = pos + 12
            elif kind == 1:
                length = _le16(b + pos + 6)
                vpos = pos + 8
            else:
                return -1
        if length != _UNDEFINED:
            if vpos + <Py_ssize_t>length > limit:
                return -1
            pos = vpos + <Py_ssize_t>length
        else:
            if not implicit and code != _VR_SQ and code != _VR_UN:
                return -1
            pos = _skip_items(b, vpos, limit, implicit or code == _VR_UN, depth + 1, max_depth, items, budget)
            if pos < 0:
                return -1
    return pos


def walk_header(const uint8_t[::1] buf, Py_ssize_t pos, bint implicit, bint meta, uint32_t stop,
                const uint32_t[::1] wanted, bint everything, const uint32_t[::1] sequences,
                int64_t previous, int64_t budget, int max_depth, int64_t[:, ::1] out):
    """Walk top-level elements from pos: (status, rows, pos, previous tag, items skipped).

    rows holds a tuple (tag, VR code or 0, value offset, value length), built in out first, for
    each wanted element (everything, or tags in the ascending wanted) whose value is plain bytes; a wanted element
    that is a sequence (explicit SQ, or UN / Implicit VR of a tag in the ascending sequences),
    the Specific Character Set, or of undefined length stops the walk (WALK_PYTHON) as does
    anything unusual: a header or value not whole in buf, a tag not above previous, an item
    tag, a VR not of PS3.5, sequences deeper than max_depth or more than budget items.
    """
    cdef const uint8_t* b = &buf[0] if buf.shape[0] > 0 else NULL
    cdef Py_ssize_t size = buf.shape[0], n = 0, cap = out.shape[0], vpos, end
    cdef Py_ssize_t n_wanted = wanted.shape[0], n_sequences = sequences.shape[0]
    cdef const uint32_t* w = &wanted[0] if n_wanted > 0 else NULL
    cdef const uint32_t* s = &sequences[0] if n_sequences > 0 else NULL
    cdef uint32_t tag, length, code
    cdef int kind, status
    cdef int64_t items = 0, trial
    cdef Py_ssize_t i
    cdef bint want
    with nogil:
        while True:
            if n == cap:
                status = WALK_FULL
                break
            if pos < 0 or pos + 12 > size:
                status = WALK_PYTHON
                break
            tag = _tag_at(b + pos)
            if (meta and tag >> 16 != 0x0002) or tag >= stop:
                status = WALK_STOP
                break
            if <int64_t>tag <= previous or tag >> 16 == 0xFFFE:
                status = WALK_PYTHON
                break
            if implicit:
                code = 0
                length = _le32(b + pos + 4)
                vpos = pos + 8
            else:
                code = (<uint32_t>b[pos + 4] << 8) | b[pos + 5]
                kind = _vr_kind(code)
                if kind == 2:
                    length = _le32(b + pos + 8)
                    vpos = pos + 12
                elif kind == 1:
                    length = _le16(b + pos + 6)
                    vpos = pos + 8
                else:
                    status = WALK_PYTHON
                    break
            want = everything or tag == _CHARSET or _has(w, n_wanted, tag)
            if length != _UNDEFINED:
                end = vpos + <Py_ssize_t>length
                if end > size:
                    status = WALK_PYTHON
                    break
                if want:
                    if tag == _CHARSET or code == _VR_SQ or (
                            (implicit or code == _VR_UN) and _has(s, n_sequences, tag)):
                        status = WALK_PYTHON
                        break
                    out[n, 0] = tag
                    out[n, 1] = code
                    out[n, 2] = vpos
                    out[n, 3] = length
                    n += 1
            else:
                if want or (not implicit and code != _VR_SQ and code != _VR_UN):
                    status = WALK_PYTHON
                    break
                trial = items
                end = _skip_items(b, vpos, size, implicit or code == _VR_UN, 1, max_depth, &trial, budget)
                if end < 0:
                    status = WALK_PYTHON
                    break
                items = trial
            pos = end
            previous = tag
    rows = [(out[i, 0], out[i, 1], out[i, 2], out[i, 3]) for i in range(n)]
    return status, rows, pos, previous, items
