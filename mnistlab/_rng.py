"""One way to turn the ``rng`` argument every random function takes into a Generator."""

from __future__ import annotations

import numpy as np

RNGLike = "np.random.Generator | int | None"


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """Return a ``np.random.Generator`` for ``rng``.

    Parameters
    ----------
    rng : np.random.Generator, int or None
        A generator is returned as is (so a caller's stream continues); an int
        seeds a new one; ``None`` draws fresh entropy. NumPy's global random
        state is never used, so results never depend on what ran before.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(
        f"rng must be a numpy.random.Generator, an int seed or None, not {type(rng).__name__}"
    )
