"""trpo_lite: a small NumPy library that builds TRPO step by step.

The course's reference implementation. Every function is a pure function of a flat
parameter vector ``theta``; every random draw takes a ``numpy.random.Generator``.
Sign convention, used everywhere: objectives are *maximised* and updates are
``theta + step``.

The main entry points are importable from the package itself::

    from trpo_lite import train, TrainConfig
    result = train("trpo", "CartPole-v1", seed=0, total_steps=20_000, config=TrainConfig())

``trpo_lite.train`` is the training module *and* callable as the ``train`` function, so
``from trpo_lite.train import TrainConfig`` works as well. ``load_experiment`` reads the
precomputed multi-seed results in data/; ``python -m trpo_lite`` is the command line.
"""
__version__ = "0.1.0"

# the imports come after __version__, which data.py reads
from . import train
from .config import TrainConfig
from .experiments import load_experiment
from .train import ALGOS, TrainResult

__all__ = ["ALGOS", "TrainConfig", "TrainResult", "__version__", "load_experiment", "train"]
