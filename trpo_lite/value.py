"""The value baseline V_phi(s): a small MLP fitted to the GAE returns by least squares.

    minimise_phi   (1/M) sum_i (V_phi(s_i) - R_i)^2  +  l2 * ||phi||^2

solved with a few iterations of L-BFGS (scipy) from the previous phi, using the
hand-written ``MLP.vjp`` for the gradient. A deterministic second-order-ish fit: no learning
rate to tune, and the same data give the same phi (TRPO paper, Sec. 8, fits its baseline
the same way). Targets are standardised inside the fit so one setting serves CartPole
(returns ~ 100) and Pendulum (returns ~ -1000).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from .config import DEFAULTS
from .mlp import MLP
from .validate import check_array, check_integer, check_nonnegative


@dataclass(frozen=True)
class ValueFunction:
    """V(s) = scale * net(s) + shift, with (shift, scale) refitted to the targets each time.

    ``params = [net parameters, shift, scale]`` as one flat vector.
    """

    net: MLP

    @classmethod
    def for_obs_dim(cls, obs_dim: int, hidden=DEFAULTS.value_hidden):
        """V for ``obs_dim``-dimensional states; ``hidden`` as ``TrainConfig.value_hidden``."""
        return cls(MLP((obs_dim, *hidden, 1)))

    def init(self, rng: np.random.Generator):
        return np.concatenate([self.net.init(rng, out_scale=1.0), [0.0, 1.0]])

    def __call__(self, params, obs):
        """V(s_i), shape (M,)."""
        shift, scale = params[-2], params[-1]
        return self.net.forward(params[:-2], obs)[:, 0] * scale + shift

    def fit(self, params, obs, targets, iters: int = DEFAULTS.value_iters, l2: float = 1e-4):
        """A few L-BFGS iterations on the squared error, warm-started at ``params``.

        ``iters`` as ``TrainConfig.value_iters``; ``l2`` is a fixed, tiny weight decay that only
        keeps the problem well posed (not a knob: train never changes it).
        """
        iters = check_integer(iters, "iters", minimum=1)
        l2 = check_nonnegative(l2, "l2")
        obs = check_array(obs, "obs", shape=(None, self.net.in_dim))
        targets = check_array(targets, "targets", shape=(len(obs),))
        params = check_array(params, "params", shape=(self.net.n_params + 2,))
        shift, scale = float(targets.mean()), float(targets.std() + 1e-8)
        y = (targets - shift) / scale
        n = len(obs)

        def loss_and_grad(phi):
            pred, _, vjp = self.net.linearize(phi, obs)                    # one forward pass
            err = pred[:, 0] - y
            loss = err @ err / n + l2 * phi @ phi
            grad = vjp((2.0 / n) * err[:, None]) + 2 * l2 * phi
            return loss, grad

        # warm start: the previous V expressed in the new standardised units
        phi0 = self._rescale_last_layer(params[:-2], params[-1] / scale, (params[-2] - shift) / scale)
        res = minimize(loss_and_grad, phi0, jac=True, method="L-BFGS-B",
                       options={"maxiter": iters})
        return np.concatenate([res.x, [shift, scale]])

    def _rescale_last_layer(self, phi, a, c):
        """Parameters of a*net(s) + c (scale the last layer, shift its bias)."""
        phi = phi.copy()
        W, b = self.net.unflatten(phi)[-1]
        W *= a
        b *= a
        b += c
        return phi
