"""sightspeed: make Python computer-vision inference pipelines fast, and show why they are slow.

>>> import sightspeed
>>> stage = sightspeed.Stage("double", lambda item: None)
>>> stage.name
'double'
"""

from __future__ import annotations

from . import cores as cores
from . import kernels as kernels
from ._version import __version__ as __version__
from .cores import CoreBudget as CoreBudget
from .equivalence import equivalence as equivalence
from .errors import InputError as InputError
from .errors import MissingDependency as MissingDependency
from .errors import SightspeedError as SightspeedError
from .pipeline.executors import Pipelined as Pipelined
from .pipeline.executors import Serial as Serial
from .pipeline.item import Item as Item
from .pipeline.run import RunResult as RunResult
from .pipeline.run import run as run
from .pipeline.stage import Pipeline as Pipeline
from .pipeline.stage import Stage as Stage
from .profiling.scope import profile as profile
from .profiling.scope import stage as stage
from .profiling.session import Session as Session

kernels.copy_span = stage  # the GPU kernel path's host<->device copies are stages of a profile


def load_ipython_extension(ipython) -> None:  # noqa: ANN001 - IPython's shell
    """``%load_ext sightspeed``: the ``%sightspeed`` / ``%%sightspeed`` magics."""
    from .magic import load_ipython_extension as load

    load(ipython)
