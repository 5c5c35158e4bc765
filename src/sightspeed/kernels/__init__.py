"""Pre/post-processing ops: a plain numpy reference per op, registered backends held to it by tests/contracts,
and a dispatcher that picks the measured-fastest available backend.

>>> import numpy as np
>>> from sightspeed import kernels
>>> frame = np.zeros((1080, 1920, 3), np.uint8)
>>> x = kernels.preprocess(frame, (640, 640), backend="opencv")
>>> x.shape, x.dtype.name
((1, 3, 640, 640), 'float32')
>>> kernels.composite.pick(backend="numpy")
('numpy', 'asked for by the caller')
"""

from ._registry import OPS as OPS
from ._registry import BackendUnavailable as BackendUnavailable
from ._registry import Op as Op
from ._registry import Tolerance as Tolerance
from ._registry import all_pairs as all_pairs
from ._registry import available_pairs as available_pairs
from ._registry import get as get
from ._registry import measured_picks as measured_picks
from ._registry import save_picks as save_picks
from ._registry import use_backend as use_backend
from .composite import composite as composite
from .db import box_scores as box_scores
from .db import db_bitmap as db_bitmap
from .feather import feather_mask as feather_mask
from .nms import nms as nms
from .nms import weighted_nms as weighted_nms
from .preprocess import preprocess as preprocess
from .refine import refine_mask as refine_mask
from .resize import Letterbox as Letterbox
from .resize import crop_resize as crop_resize
from .resize import letterbox as letterbox


def _no_span(name: str, bytes: int = 0):  # noqa: A002, ANN202 - sightspeed.stage's keyword; a context manager
    import contextlib

    return contextlib.nullcontext()


# How the GPU path records a host<->device copy (kernels/_xp.py): ``sightspeed.stage``, set when the package is
# imported (the kernels layer imports no profiling); a no-op for kernels used on their own.
copy_span = _no_span
