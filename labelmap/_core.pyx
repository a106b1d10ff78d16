# cython: language_level=3
"""Hot loops of labelmap.  Only ``labelmap.kernels`` imports this module.

Every function here is a typed loop over contiguous memoryviews that runs
without the GIL.  Callers guarantee shapes, dtypes and bounds: nothing in this
file validates user input.
"""

from libc.stdint cimport uint8_t, uint16_t, uint32_t, int64_t

ctypedef fused label_t:
    uint8_t
    uint16_t
    uint32_t

ctypedef fused out_t:
    uint8_t
    uint16_t


def slice_label_presence(const label_t[:, ::1] labels,
                         uint8_t[:, ::1] presence,
                         int64_t[::1] counts):
    """For each slice row of ``labels`` (K x pixels), mark which values occur.

    ``presence[k, v]`` becomes 1 when value ``v`` occurs in slice ``k``;
    ``counts[v]`` accumulates the voxel count of ``v``.  Every value must be
    smaller than ``presence.shape[1]`` (the caller checks the maximum).
    """
    cdef Py_ssize_t k, p
    cdef Py_ssize_t nk = labels.shape[0]
    cdef Py_ssize_t npix = labels.shape[1]
    cdef label_t v
    with nogil:
        for k in range(nk):
            for p in range(npix):
                v = labels[k, p]
                presence[k, v] = 1
                counts[v] += 1


def remap_lut(const label_t[::1] labels, const out_t[::1] lut, out_t[::1] out):
    """``out[p] = lut[labels[p]]``; every label must index into ``lut``."""
    cdef Py_ssize_t p
    cdef Py_ssize_t n = labels.shape[0]
    with nogil:
        for p in range(n):
            out[p] = lut[labels[p]]
