"""A tiny multilayer perceptron on a flat parameter vector ``theta``.

    h_0 = x,   h_l = tanh(h_{l-1} W_l + b_l)  (l < L),   y = h_{L-1} W_L + b_L

With ``sizes=(in, out)`` there is no hidden layer and the map is linear, y = x W + b.
The network never stores parameters: every method takes ``theta`` (n_params,) so a
line search can evaluate any candidate without mutating a model.

Derivatives are written by hand (checked against finite differences in
tests/test_mlp_policies_fisher.py):

* ``jvp``  forward-mode   J v      -> (N, out)   one pass, tangents alongside values
* ``vjp``  reverse-mode   sum_i J_i^T u_i -> (n_params,)   backpropagation
* ``jacobian``  the full per-sample J (N, out, n_params), for explicit Fisher matrices
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .validate import check_array, check_integer, check_rng


@dataclass(frozen=True)
class MLP:
    """Fully connected tanh network; layer l has weights W_l (in_l, out_l) and bias b_l.

    The hidden units are always tanh: smooth, so the finite-difference checks of the
    derivatives are exact to O(eps^2), and bounded, so the policies start near uniform.

    Parameters
    ----------
    sizes : tuple of int
        ``(in_dim, hidden_1, ..., out_dim)``; two entries give a linear map.
    """

    sizes: tuple

    def __post_init__(self):
        if len(tuple(self.sizes)) < 2:
            raise ValueError(f"sizes must have >= 2 positive entries, got {self.sizes!r}")
        sizes = tuple(check_integer(s, "sizes entries", minimum=1) for s in self.sizes)
        object.__setattr__(self, "sizes", sizes)

    @property
    def in_dim(self) -> int:
        return self.sizes[0]

    @property
    def out_dim(self) -> int:
        return self.sizes[-1]

    @property
    def n_params(self) -> int:
        return sum(i * o + o for i, o in zip(self.sizes[:-1], self.sizes[1:]))

    # -- parameters ------------------------------------------------------------
    def unflatten(self, theta):
        """Views ``[(W_1, b_1), ..., (W_L, b_L)]`` into ``theta`` (no copies)."""
        theta = check_array(theta, "theta", shape=(self.n_params,))
        layers, k = [], 0
        for i, o in zip(self.sizes[:-1], self.sizes[1:]):
            W = theta[k:k + i * o].reshape(i, o)
            k += i * o
            b = theta[k:k + o]
            k += o
            layers.append((W, b))
        return layers

    def init(self, rng: np.random.Generator, out_scale: float = 0.01):
        """Orthogonal weights (gain 1), zero biases; the last layer scaled by ``out_scale``
        so a new policy starts close to uniform / zero-mean."""
        check_rng(rng)
        parts = []
        n_layers = len(self.sizes) - 1
        for l, (i, o) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            q, r = np.linalg.qr(rng.standard_normal((max(i, o), min(i, o))))
            q = q * np.sign(np.diag(r))
            W = q if i >= o else q.T
            if l == n_layers - 1:
                W = W * out_scale
            parts += [W.ravel(), np.zeros(o)]
        return np.concatenate(parts)

    # -- evaluation ------------------------------------------------------------
    def _check_x(self, x):
        return check_array(x, "x", shape=(None, self.in_dim))

    def _forward(self, theta, x):
        """Forward pass keeping every layer's input (needed by vjp)."""
        layers = self.unflatten(theta)
        hs = [x]
        h = x
        for l, (W, b) in enumerate(layers):
            z = h @ W
            z += b                                   # z_l = h_{l-1} W_l + b_l, in place
            h = z if l == len(layers) - 1 else np.tanh(z, out=z)    # h_l = tanh(z_l), in place
            hs.append(h)
        return hs, layers

    def bind(self, theta):
        """x -> f(x; theta) with theta validated and unflattened once.

        For inner loops (one call per environment step) where x is known to be well formed:
        skips the per-call checks of ``forward``.
        """
        layers = self.unflatten(theta)
        last = len(layers) - 1

        def f(x):
            h = x
            for l, (W, b) in enumerate(layers):
                z = h @ W + b
                h = z if l == last else np.tanh(z)
            return h

        return f

    def forward(self, theta, x):
        """y = f(x; theta).  x (N, in_dim) -> y (N, out_dim)."""
        return self._forward(theta, self._check_x(x))[0][-1]

    def linearize(self, theta, x):
        """One forward pass, kept for any number of derivative products at the same (theta, x).

        Returns ``(y, jvp, vjp)``: y (N, out_dim); ``jvp(v) -> (N, out_dim)`` = J_i v;
        ``vjp(u) -> (n_params,)`` = sum_i J_i^T u_i. Conjugate gradient calls both ~10 times
        per TRPO update, so the activations are computed once (like ``jax.linearize``).
        """
        hs, layers = self._forward(theta, self._check_x(x))
        n = hs[0].shape[0]
        # tanh'(z_l) = 1 - h_l^2 of every hidden layer, computed once for all the products
        slopes = [None] + [1.0 - h ** 2 for h in hs[1:-1]]

        def jvp(v):
            """Forward mode: dz_l = dh_{l-1} W_l + h_{l-1} dW_l + db_l; dh_l = (1 - h_l^2) dz_l
            (the input x has no tangent: dh_0 = 0, so layer 1 has no dh_0 W_1 term)."""
            v_layers = self.unflatten(check_array(v, "v", shape=(self.n_params,)))
            dh = None                                                      # dh_0 = 0
            for l, ((W, _), (dW, db)) in enumerate(zip(layers, v_layers)):
                dz = hs[l] @ dW if dh is None else dh @ W + hs[l] @ dW
                dz += db
                if l == len(layers) - 1:
                    return dz
                dh = np.multiply(slopes[l + 1], dz, out=dz)                # in place

        def vjp(u):
            """Backpropagation of the cotangent u_z = d(u . y)/dz_l, layer by layer: u_z = u at
            the output; dW_l = h_{l-1}^T u_z; db_l = sum u_z; u_z <- (u_z W_l^T) * (1 - h_{l-1}^2)."""
            u_z = check_array(u, "u", shape=(n, self.out_dim))
            grads = []
            for l in range(len(layers) - 1, -1, -1):
                W, _ = layers[l]
                h_in = hs[l]
                grads.append((h_in.T @ u_z, u_z.sum(axis=0)))
                if l > 0:
                    u_z = u_z @ W.T
                    u_z *= slopes[l]                          # (u_z W_l^T) * (1 - h_{l-1}^2)
            return np.concatenate([np.concatenate([gW.ravel(), gb]) for gW, gb in reversed(grads)])

        return hs[-1], jvp, vjp

    def vjp(self, theta, x, u):
        """Vector-Jacobian product summed over the batch: sum_i J_i^T u_i, shape (n_params,)."""
        return self.linearize(theta, x)[2](u)

    def jvp(self, theta, x, v):
        """Jacobian-vector product J_i v for every sample, shape (N, out_dim)."""
        return self.linearize(theta, x)[1](v)

    def jacobian(self, theta, x):
        """Per-sample Jacobian dy_i/dtheta, shape (N, out_dim, n_params).

        Built from out_dim reverse passes with one-hot cotangents per sample; meant for
        the small networks where an explicit Fisher matrix is affordable.
        """
        x = self._check_x(x)
        n, out = x.shape[0], self.out_dim
        hs, layers = self._forward(theta, x)
        J = np.empty((n, out, self.n_params))
        for k in range(out):
            u_z = np.zeros((n, out))
            u_z[:, k] = 1.0
            cols = []
            for l in range(len(layers) - 1, -1, -1):
                W, _ = layers[l]
                h_in = hs[l]
                # per-sample dW = outer(h_in_i, u_z_i)
                cols.append(np.concatenate(
                    [np.einsum("ni,no->nio", h_in, u_z).reshape(n, -1), u_z], axis=1))
                if l > 0:
                    u_z = (u_z @ W.T) * (1.0 - h_in ** 2)
            J[:, k, :] = np.concatenate(cols[::-1], axis=1)
        return J


def linear(in_dim: int, out_dim: int) -> MLP:
    """A linear map y = x W + b as an MLP with no hidden layer."""
    return MLP((in_dim, out_dim))
