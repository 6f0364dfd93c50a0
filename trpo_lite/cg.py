"""Conjugate gradient: solve ``A x = b`` using only products ``v -> A v``.

TRPO needs the natural-gradient direction ``x = F^-1 g``. Forming the n x n Fisher
matrix F costs O(n^2) memory and inverting it O(n^3); conjugate gradient (CG) needs
only Fisher-vector products ``F v``, and in exact arithmetic reaches the solution in
at most n iterations (Schulman et al. 2015, Appendix C; notebook 04). In practice
TRPO runs about 10 iterations and uses the approximate solution.

CG solves ``A x = b`` for a symmetric positive-definite A by minimising the quadratic

    f(x) = 0.5 x^T A x - b^T x,     grad f(x) = A x - b = -r,

along search directions that are A-conjugate (``p_i^T A p_j = 0`` for ``i != j``).
``steepest_descent`` minimises the same f along the residual only, for comparison.

References: M. Hestenes, E. Stiefel (1952), Methods of conjugate gradients for solving
linear systems; J. Nocedal, S. Wright, Numerical Optimization, Algorithm 5.2.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .validate import check_array, check_callable, check_integer, check_positive


@dataclass(frozen=True)
class CGResult:
    """Result of ``conjugate_gradient`` or ``steepest_descent`` after k iterations.

    Attributes
    ----------
    x : ndarray, shape (n,)
        The last iterate x_k (always finite; the last good one if curvature failed).
    residual_norms : ndarray, shape (k+1,)
        ``||b - A x_i||`` for i = 0..k; entry 0 is the initial residual (``||b||`` if x0 = 0).
    iterations : int
        k, the number of completed updates of x.
    converged : bool
        True when ``residual_norms[-1] <= tol * ||b||``.
    negative_curvature : bool
        True when a search direction had ``p^T A p <= 0`` (or non-finite): A is not
        positive definite along p, so the method stopped and returned the last good x.
    iterates : ndarray, shape (k+1, n), or None
        x_0..x_k when ``keep_iterates=True``, else None.
    """

    x: np.ndarray
    residual_norms: np.ndarray
    iterations: int
    converged: bool
    negative_curvature: bool
    iterates: np.ndarray | None = None


def _check_inputs(Avp, b, max_iter, tol, x0):
    """Validate the arguments shared by both solvers; return (b, max_iter, tol, x0)."""
    check_callable(Avp, "Avp", "v -> A @ v")
    b = check_array(b, "b", ndim=1)
    if b.size == 0:
        raise ValueError("b must be non-empty, got shape (0,)")
    max_iter = b.size if max_iter is None else check_integer(max_iter, "max_iter", minimum=1)
    tol = check_positive(tol, "tol")
    x0 = np.zeros_like(b) if x0 is None else check_array(x0, "x0", shape=b.shape).copy()
    return b, max_iter, tol, x0


def _apply(Avp, v):
    """Return ``Avp(v)`` as a float array, checking its shape and finiteness."""
    Av = np.asarray(Avp(v.copy()), dtype=float)
    if Av.shape != v.shape:
        raise ValueError(f"Avp must return an array of shape {v.shape}, got {Av.shape}")
    if not np.all(np.isfinite(Av)):
        raise ValueError("Avp returned NaN or inf (is A finite? is the damping finite?)")
    return Av


def _result(x, residual_norms, iterates, threshold, negative_curvature):
    return CGResult(
        x=x,
        residual_norms=np.array(residual_norms),
        iterations=len(residual_norms) - 1,
        converged=bool(residual_norms[-1] <= threshold),
        negative_curvature=negative_curvature,
        iterates=None if iterates is None else np.array(iterates),
    )


def conjugate_gradient(Avp, b, max_iter=None, tol=1e-10, x0=None, keep_iterates=False):
    """Solve ``A x = b`` for symmetric positive-definite A by conjugate gradient.

    Parameters
    ----------
    Avp : callable
        ``Avp(v) -> A @ v`` for v of shape (n,); in TRPO the Fisher-vector product.
    b : array_like, shape (n,)
        Right-hand side; in TRPO the policy gradient g.
    max_iter : int, optional
        Maximum number of iterations, >= 1. Default n (exact in exact arithmetic);
        TRPO uses about 10, which is enough for a good direction.
    tol : float
        Relative tolerance > 0: stop when ``||b - A x_k|| <= tol * ||b||``.
    x0 : array_like, shape (n,), optional
        Starting point (default zeros, so the first residual is b).
    keep_iterates : bool
        Store x_0..x_k in ``CGResult.iterates`` (for plots).

    Returns
    -------
    CGResult
        If some direction has ``p^T A p <= 0`` (A not positive definite, e.g. an
        undamped singular Fisher), iteration stops with ``negative_curvature=True``
        and the last finite x, instead of dividing by zero.

    Notes
    -----
    Nocedal & Wright, Algorithm 5.2 (with r = b - A x, the negative gradient of f)::

        r_0 = b - A x_0,  p_0 = r_0
        alpha_k = r_k^T r_k / p_k^T A p_k
        x_{k+1} = x_k + alpha_k p_k,          r_{k+1} = r_k - alpha_k A p_k
        beta_k  = r_{k+1}^T r_{k+1} / r_k^T r_k,   p_{k+1} = r_{k+1} + beta_k p_k
    """
    b, max_iter, tol, x = _check_inputs(Avp, b, max_iter, tol, x0)
    threshold = tol * np.linalg.norm(b)
    r = b - _apply(Avp, x) if np.any(x) else b.copy()  # skip a product when x0 = 0
    p = r.copy()
    rr = r @ r
    residual_norms = [np.sqrt(rr)]
    iterates = [x.copy()] if keep_iterates else None
    negative_curvature = False
    for _ in range(max_iter):
        if residual_norms[-1] <= threshold:
            break
        Ap = _apply(Avp, p)
        pAp = p @ Ap
        if not (np.isfinite(pAp) and pAp > 0):  # curvature check: A must be PD along p
            negative_curvature = True
            break
        alpha = rr / pAp  # exact minimiser of f along p
        x = x + alpha * p
        r = r - alpha * Ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p  # next direction, A-conjugate to all previous ones
        rr = rr_new
        residual_norms.append(np.sqrt(rr))
        if keep_iterates:
            iterates.append(x.copy())
    return _result(x, residual_norms, iterates, threshold, negative_curvature)


# A deliberate side-by-side with conjugate_gradient above (notebook 04 compares them line by line):
# the set-up and the loop are written out again so that the one difference, the direction, shows.
def steepest_descent(Avp, b, max_iter, x0=None, keep_iterates=True, tol=1e-10):
    """Minimise ``f(x) = 0.5 x^T A x - b^T x`` by steepest descent with exact line search.

    The baseline CG improves on: each step goes along the residual ``r = -grad f``
    with the exactly optimal length ``alpha = r^T r / r^T A r``. Successive steps are
    orthogonal, so on an ill-conditioned quadratic the path zig-zags and needs about
    ``kappa(A)`` times more iterations than CG needs (CG: at most n). Notebook 04.

    Parameters are as in ``conjugate_gradient``; ``max_iter`` is required and
    ``keep_iterates`` defaults to True. Returns a ``CGResult`` with the same meaning.
    """
    b, max_iter, tol, x = _check_inputs(Avp, b, max_iter, tol, x0)
    threshold = tol * np.linalg.norm(b)
    r = b - _apply(Avp, x)
    residual_norms = [np.linalg.norm(r)]
    iterates = [x.copy()] if keep_iterates else None
    negative_curvature = False
    for _ in range(max_iter):
        if residual_norms[-1] <= threshold:
            break
        Ar = _apply(Avp, r)
        rAr = r @ Ar
        if not (np.isfinite(rAr) and rAr > 0):
            negative_curvature = True
            break
        alpha = (r @ r) / rAr  # exact minimiser of f along r
        x = x + alpha * r
        r = r - alpha * Ar
        residual_norms.append(np.linalg.norm(r))
        if keep_iterates:
            iterates.append(x.copy())
    return _result(x, residual_norms, iterates, threshold, negative_curvature)
