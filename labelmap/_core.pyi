"""Type stubs for the compiled kernels (see labelmap/_core.pyx)."""

import numpy as np
import numpy.typing as npt

def slice_label_presence(
    labels: npt.NDArray[np.uint8] | npt.NDArray[np.uint16] | npt.NDArray[np.uint32],
    presence: npt.NDArray[np.uint8],
    counts: npt.NDArray[np.int64],
) -> None: ...
def remap_lut(
    labels: npt.NDArray[np.uint8] | npt.NDArray[np.uint16] | npt.NDArray[np.uint32],
    lut: npt.NDArray[np.uint8] | npt.NDArray[np.uint16],
    out: npt.NDArray[np.uint8] | npt.NDArray[np.uint16],
) -> None: ...
