"""trpo_lite: a small NumPy library that builds TRPO step by step.

The course's reference implementation. Every function is a pure function of a flat
parameter vector ``theta``; every random draw takes a ``numpy.random.Generator``.
Sign convention, used everywhere: objectives are *maximised* and updates are
``theta + step``.
"""
__version__ = "0.1.0"
