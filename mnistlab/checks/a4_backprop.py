"""Checks of assignment ``a4_backprop`` (chapter 4, backpropagation)."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from mnistlab.checks.references import NUMPY as _np, REFERENCE as _ref
from mnistlab.checks.messages import GradingFailure, Problem, labeled, describe, quiet_numpy, shorten, STABLE_HINT
from mnistlab.checks.runner import Check, random_shape, random_signed, same_value, seeded_rng


#: The graded functions of this assignment, in notebook order: one autograder cell each.
GRADED = ('affine_forward', 'affine_backward', 'relu_forward', 'relu_backward', 'softmax_cross_entropy', 'TwoLayerNet.loss')
#: The teaching-library modules that define the reference of each graded function (the chapter map).
REFERENCE_MODULES = ("mnistlab.layers", "mnistlab.model")


def _affine_data(gen, n, d_shape, h):
    x = gen.standard_normal((n, *d_shape))
    d = int(_np.prod(d_shape))
    w = gen.standard_normal((d, h)) / math.sqrt(d)
    b = gen.standard_normal(h)
    return x, w, b


def _random_affine_data(rng: np.random.Generator):
    """x of shape (N, d1, d2) (N 2-7, d1 and d2 2-5), w (d1 * d2, H) with H 2-7, and a bias of one random scale."""
    x, w, b = _affine_data(rng, int(rng.integers(2, 8)), random_shape(rng, ndim=2, low=2, high=5),
                           int(rng.integers(2, 8)))
    return x, w, b * 10.0 ** rng.uniform(-1, 1)


def check_affine_forward(affine_forward: Callable, hidden: bool = False) -> None:
    """Check ``affine_forward(x, w, b) -> (out, cache)`` (assignment a4_backprop)."""
    c = Check("affine_forward", affine_forward, hidden, ("x", "w", "b"))

    def run(x, w, b, **kw):
        got = c.expect_tuple(c.call(x, w, b, **kw), 2, "(out, cache)")
        out, cache = got
        want, _ = _ref.affine_forward(x, w, b)
        c.expect_array(out, want, what="out", bugs=[
            ("the bias is missing: out = x @ w + b", lambda: x.reshape(len(x), -1) @ w),
            ("out = x @ w.T: w has shape (D, H), so x (N, D) @ w (D, H) needs no transpose",
             lambda: x.reshape(len(x), -1) @ w.T + b),
        ])
        ok = isinstance(cache, (tuple, list)) and len(cache) == 3 and all(
            same_value(_np.asarray(u), v) for u, v in zip(cache, (x, w, b)))
        if not ok:
            raise c.problem(
                f"cache should be the tuple (x, w, b), got {describe(cache)}.",
                hint="affine_backward needs exactly the inputs: return out, (x, w, b)",
            )

    if not hidden:
        with c.test("hand-worked example"):
            x = _np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 1.0]])
            w = _np.array([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]])
            b = _np.array([0.5, -0.5])
            run(x, w, b)
        with c.test("random x (4, 5), w (5, 3)"):
            run(*_affine_data(seeded_rng(101), 4, (5,), 3))
    elif c.fixed_hidden_cases:
        gen = seeded_rng(102)
        with c.test("images (N, 4, 5) are flattened to rows of 20"):
            run(*_affine_data(gen, 3, (4, 5), 6))
        with c.test("a batch of one"):
            run(*_affine_data(gen, 1, (7,), 2))
        with c.test("the inputs are not modified"):
            x, w, b = _affine_data(gen, 5, (6,), 4)
            c.call(x, w, b, unmodified=("x", "w", "b"))
            run(x, w, b)
        with c.test("float32 stays float32"):
            x, w, b = (a.astype(_np.float32) for a in _affine_data(gen, 3, (5,), 4))
            out = c.expect_tuple(c.call(x, w, b), 2, "(out, cache)")[0]
            c.expect_array(out, _ref.affine_forward(x, w, b)[0], what="out", dtype=True)
    if hidden:
        for title, rng in c.random_cases("images (N, d1, d2) flattened, the inputs not modified"):
            with c.test(title, random=True):
                x, w, b = _random_affine_data(rng)
                c.call(x, w, b, unmodified=("x", "w", "b"))
                run(x, w, b)
    c.done()


def check_affine_backward(affine_backward: Callable, hidden: bool = False) -> None:
    """Check ``affine_backward(dout, cache) -> (dx, dw, db)`` with ``cache = (x, w, b)`` (assignment a4_backprop)."""
    c = Check("affine_backward", affine_backward, hidden, ("dout", "cache"))

    def run(x, w, b, dout, **kw):
        got = c.expect_tuple(c.call(dout, (x, w, b), **kw, labels={"cache": f"(x, w, b) with {describe(x)}, "
                                                                            f"{describe(w)}, {describe(b)}"}),
                             3, "(dx, dw, db)")
        dx, dw, db = got
        want_dx, want_dw, want_db = _ref.affine_backward(dout, (x, w, b))
        x2 = x.reshape(len(x), -1)
        c.expect_array(dw, want_dw, what="dw", bugs=[
            ("dw is transposed: it must have w's shape (D, H), which x.T @ dout gives", lambda: dout.T @ x2),
            ("dw must not be averaged over the batch here: the loss already did that; dw = x.T @ dout",
             lambda: x2.T @ dout / len(x)),
        ], hint="dw = x.T @ dout (with x flattened to (N, D))")
        c.expect_array(db, want_db, what="db", bugs=[
            ("db sums over the wrong axis: sum over the batch, axis=0, to get shape (H,)", lambda: dout.sum(axis=1)),
            ("db must be the sum over the batch, not the mean: db = dout.sum(axis=0)", lambda: dout.mean(axis=0)),
        ])
        c.expect_array(dx, want_dx, what="dx", bugs=[
            ("dx must have x's shape: reshape dout @ w.T back to x.shape", lambda: dout @ w.T),
        ], hint="dx = dout @ w.T, reshaped to x.shape")

    if not hidden:
        with c.test("hand-worked example"):
            x = _np.array([[1.0, 2.0], [3.0, 4.0], [0.0, -1.0]])
            w = _np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])
            b = _np.zeros(3)
            dout = _np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
            run(x, w, b, dout)
        with c.test("random x (4, 5), w (5, 3)"):
            gen = seeded_rng(111)
            x, w, b = _affine_data(gen, 4, (5,), 3)
            run(x, w, b, gen.standard_normal((4, 3)))
    elif c.fixed_hidden_cases:
        gen = seeded_rng(112)
        with c.test("images (N, 4, 5): dx has x's shape"):
            x, w, b = _affine_data(gen, 3, (4, 5), 6)
            run(x, w, b, gen.standard_normal((3, 6)))
        with c.test("a batch of one"):
            x, w, b = _affine_data(gen, 1, (6,), 2)
            run(x, w, b, gen.standard_normal((1, 2)))
        with c.test("the inputs are not modified"):
            x, w, b = _affine_data(gen, 5, (6,), 4)
            dout = gen.standard_normal((5, 4))
            c.call(dout, (x, w, b), unmodified=("dout", "cache"))
            run(x, w, b, dout)
        with c.test("a larger random layer"):
            x, w, b = _affine_data(gen, 32, (50,), 20)
            run(x, w, b, gen.standard_normal((32, 20)))
    if hidden:
        for title, rng in c.random_cases("images (N, d1, d2): dx has x's shape, the inputs not modified"):
            with c.test(title, random=True):
                x, w, b = _random_affine_data(rng)
                dout = random_signed(rng, (len(x), w.shape[1]))
                c.call(dout, (x, w, b), unmodified=("dout", "cache"))
                run(x, w, b, dout)
    c.done()


def check_relu_forward(relu_forward: Callable, hidden: bool = False) -> None:
    """Check ``relu_forward(x) -> (out, cache)`` with ``cache = x`` (assignment a4_backprop)."""
    c = Check("relu_forward", relu_forward, hidden, ("x",))

    def run(x, **kw):
        out, cache = c.expect_tuple(c.call(x, **kw), 2, "(out, cache)")
        c.expect_array(out, _ref.relu(x), what="out", dtype=x.dtype == _np.float32, bugs=[
            ("out equals np.abs(x): ReLU sets negative values to 0", lambda: _np.abs(x)),
            ("out is the mask x > 0: return the values max(x, 0)", lambda: (x > 0).astype(x.dtype)),
        ])
        if not (isinstance(cache, _np.ndarray) and same_value(cache, x) or
                isinstance(cache, _np.ndarray) and cache.shape == x.shape and _np.array_equal(cache > 0, x > 0)):
            raise c.problem(f"cache should be the input x, got {describe(cache)}.",
                            hint="relu_backward is given the cache and needs to know where x > 0: return out, x")

    if not hidden:
        with c.test("hand-worked example"):
            run(_np.array([[-1.0, 0.0, 2.0], [3.0, -4.0, 0.5]]))
        with c.test("random (4, 6) input"):
            run(seeded_rng(121).standard_normal((4, 6)))
    elif c.fixed_hidden_cases:
        gen = seeded_rng(122)
        with c.test("the input is not modified"):
            run(gen.standard_normal((5, 7)), unmodified=("x",))
        with c.test("float32 stays float32, any shape"):
            run(gen.standard_normal((2, 3, 4)).astype(_np.float32))
    if hidden:
        for title, rng in c.random_cases("any shape, the input not modified"):
            with c.test(title, random=True):
                run(random_signed(rng, random_shape(rng, min_size=2)), unmodified=("x",))
    c.done()


def check_relu_backward(relu_backward: Callable, hidden: bool = False) -> None:
    """Check ``relu_backward(dout, cache) -> dx`` with ``cache = x`` (assignment a4_backprop)."""
    c = Check("relu_backward", relu_backward, hidden, ("dout", "cache"))

    def run(x, dout, **kw):
        got = c.call(dout, x, labels={"cache": f"x = {describe(x)}"}, **kw)
        c.expect_array(got, _ref.relu_backward(dout, x), what="dx", bugs=[
            ("dx = dout * x: the local gradient of ReLU is 1 where x > 0 and 0 elsewhere, not x",
             lambda: dout * x),
            ("dx is the mask alone: multiply it with dout (the chain rule)", lambda: (x > 0).astype(float)),
            ("the mask comes from dout: it must come from the forward input x (the cache)",
             lambda: dout * (dout > 0)),
            ("at x == 0 the gradient is 0 by convention: use the mask x > 0, not x >= 0",
             lambda: dout * (x >= 0)),
        ])

    if not hidden:
        with c.test("hand-worked example"):
            x = _np.array([[-1.0, 2.0, 3.0], [4.0, -5.0, 0.5]])
            dout = _np.array([[10.0, 20.0, -30.0], [1.0, 2.0, 3.0]])
            run(x, dout)
        with c.test("random (4, 6)"):
            gen = seeded_rng(131)
            run(gen.standard_normal((4, 6)), gen.standard_normal((4, 6)))
    elif c.fixed_hidden_cases:
        gen = seeded_rng(132)
        with c.test("x exactly 0 gets gradient 0"):
            run(_np.array([[0.0, 1.0, -1.0, 0.0]]), _np.array([[5.0, 6.0, 7.0, 8.0]]))
        with c.test("the inputs are not modified"):
            run(gen.standard_normal((5, 7)), gen.standard_normal((5, 7)), unmodified=("dout", "cache"))
        with c.test("any shape"):
            run(gen.standard_normal((2, 3, 4)), gen.standard_normal((2, 3, 4)))
    if hidden:
        for title, rng in c.random_cases("entries of x exactly 0, the inputs not modified"):
            with c.test(title, random=True):
                shape = random_shape(rng, min_size=4)
                x, dout = random_signed(rng, shape), random_signed(rng, shape)
                order, k = rng.permutation(x.size), int(rng.integers(1, x.size // 2 + 1))
                flat_x, flat_dout = x.reshape(-1), dout.reshape(-1)
                flat_x[order[:k]] = 0.0
                flat_x[order[k]], flat_x[order[k + 1]] = abs(flat_x[order[k]]), -abs(flat_x[order[k + 1]])
                flat_dout[order[0]] = abs(flat_dout[order[0]]) + 1.0  # a gradient at x == 0, which must not pass
                run(x, dout, unmodified=("dout", "cache"))
    c.done()


def check_softmax_cross_entropy(softmax_cross_entropy: Callable, hidden: bool = False) -> None:
    """Check ``softmax_cross_entropy(logits, labels) -> (loss, dlogits)`` (assignment a4_backprop)."""
    c = Check("softmax_cross_entropy", softmax_cross_entropy, hidden, ("logits", "labels"))

    def run(logits, labels, **kw):
        loss, dlogits = c.expect_tuple(c.call(logits, labels, **kw), 2, "(loss, dlogits)")
        want_loss, want_d = _ref.softmax_cross_entropy(logits, labels)
        n = len(logits)
        c.expect_number(loss, want_loss, what="the loss", bugs=[
            ("the loss is summed over the batch: take the mean (divide by N)", lambda: want_loss * n),
        ], hint="loss = -mean over the batch of log softmax(logits)[n, labels[n]]")
        p = _np.exp(_ref.log_softmax(logits, axis=1))
        onehot = _ref.one_hot(labels, logits.shape[1])
        c.expect_array(dlogits, want_d, what="dlogits", dtype=logits.dtype == _np.float32, bugs=[
            ("dlogits is N times too large: the loss is the mean over the batch, so its gradient is "
             "(softmax - one_hot) / N", lambda: want_d * n),
            ("the sign of dlogits is flipped: the gradient is softmax(logits) - one_hot(labels) (then / N)",
             lambda: -want_d),
            ("dlogits is just softmax / N: subtract 1 at each row's true class, p[np.arange(N), labels] -= 1",
             lambda: p / n),
            ("p[:, labels] -= 1 subtracts from whole columns: subtract one entry per row, "
             "p[np.arange(N), labels] -= 1", lambda: _col_bug(p, labels) / n),
        ])
        return onehot

    if not hidden:
        with c.test("uniform scores"):
            run(_np.zeros((2, 4)), _np.array([1, 3]))
        with c.test("random scores (5, 4)"):
            gen = seeded_rng(141)
            run(gen.standard_normal((5, 4)) * 2, _np.array([0, 3, 1, 1, 2]))
    elif c.fixed_hidden_cases:
        gen = seeded_rng(142)
        stable = STABLE_HINT + " (loss and gradient both come from log_softmax / softmax of the shifted scores)"
        with c.test("large scores without overflow"):
            logits = _np.array([[1000.0, 0.0, -1000.0], [1e4, 1e4 + 1, 0.0]])
            labels = _np.array([2, 0])
            loss, d = c.expect_tuple(c.call(logits, labels), 2, "(loss, dlogits)")
            want_loss, want_d = _ref.softmax_cross_entropy(logits, labels)
            c.expect_number(loss, want_loss, what="the loss", hint=stable)
            c.expect_array(d, want_d, what="dlogits", hint=stable)
            c.expect_no_warnings(stable)
        with c.test("a batch of one"):
            run(gen.standard_normal((1, 10)), _np.array([4]))
        with c.test("a random batch (64, 10)"):
            run(gen.standard_normal((64, 10)) * 3, gen.integers(0, 10, size=64))
        with c.test("float32 scores give float32 dlogits"):
            run((gen.standard_normal((8, 10)) * 3).astype(_np.float32), gen.integers(0, 10, size=8))
        with c.test("the inputs are not modified"):
            run(gen.standard_normal((6, 5)) * 3, gen.integers(0, 5, size=6), unmodified=("logits", "labels"))
    if hidden:
        stable = STABLE_HINT + " (loss and gradient both come from log_softmax / softmax of the shifted scores)"
        for title, rng in c.random_cases("scores above 1000 in some rows, the inputs not modified"):
            with c.test(title, random=True):
                n, classes = int(rng.integers(2, 13)), int(rng.integers(2, 11))
                logits = rng.standard_normal((n, classes)) * rng.uniform(0.5, 5.0)
                logits[rng.choice(n, size=int(rng.integers(1, n + 1)), replace=False)] += rng.uniform(1000.0, 1e4)
                labels = rng.integers(0, classes, size=n)
                labels[1] = (labels[0] + rng.integers(1, classes)) % classes  # not all one class
                run(logits, labels, unmodified=("logits", "labels"))
                c.expect_no_warnings(stable)
    c.done()


def _col_bug(p, labels):
    q = p.copy()
    q[:, labels] -= 1
    return q


def _net_params(gen, d, h, c_, *, dead_units: bool = False):
    params = {
        "W1": gen.standard_normal((d, h)) / math.sqrt(d),
        "b1": gen.standard_normal(h) * 0.5,
        "W2": gen.standard_normal((h, c_)) / math.sqrt(h),
        "b2": gen.standard_normal(c_) * 0.1,
    }
    if dead_units:
        params["b1"][: h // 2] = -10.0  # these hidden units are 0 for every input
    return params


def check_two_layer_net_loss(TwoLayerNet, hidden: bool = False) -> None:
    """Check ``TwoLayerNet(...).loss(x, y=None)`` (assignment a4_backprop) against the reference.

    ``TwoLayerNet`` is the student's class; it is built as
    ``TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, reg=reg)`` and its
    ``params`` are then replaced by fixed values, so only ``loss`` is checked.
    """
    c = Check("TwoLayerNet.loss", TwoLayerNet, hidden, ("x", "y"), kind="class")
    if not isinstance(TwoLayerNet, type):
        raise GradingFailure(f"TwoLayerNet.loss: expected the class TwoLayerNet, got {describe(TwoLayerNet)}.")

    def make(params, reg):
        d, h = params["W1"].shape
        c_ = params["W2"].shape[1]
        try:
            with quiet_numpy([]):
                net = TwoLayerNet(input_dim=d, hidden_dim=h, num_classes=c_, reg=reg)
        except Exception as exc:
            raise Problem(f"TwoLayerNet(input_dim={d}, hidden_dim={h}, num_classes={c_}, reg={reg}) raised "
                           f"{type(exc).__name__}: {shorten(exc)}",
                           labeled("hint", "keep the __init__ the notebook gives you")) from None
        net.params = {k: v.copy() for k, v in params.items()}
        ref = _ref.TwoLayerNet(d, h, c_, reg=reg)
        ref.params = {k: v.copy() for k, v in params.items()}
        return net, ref

    def params_text(params, reg):
        return (f"W1 {params['W1'].shape}, b1 {params['b1'].shape}, W2 {params['W2'].shape}, "
                f"b2 {params['b2'].shape}, reg={reg}")

    def scores(params, reg, x, **kw):
        net, ref = make(params, reg)
        got = c.call(x, fn=net.loss, fn_name="net.loss", labels={}, **kw)
        c._input_lines.insert(0, labeled("net", params_text(params, reg)))
        want = ref.loss(x)
        c.expect_array(got, want, what="the score matrix (y=None)", bugs=[
            ("these are probabilities: with y=None return the raw scores h @ W2 + b2 (no softmax)",
             lambda: _ref.softmax(want)),
            ("the ReLU between the layers is missing: scores = relu(x @ W1 + b1) @ W2 + b2",
             lambda: (x.reshape(len(x), -1) @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"]),
        ])
        return net

    def loss_and_grads(params, reg, x, y, **kw):
        net, ref = make(params, reg)
        got = c.call(x, y, fn=net.loss, fn_name="net.loss", **kw)
        c._input_lines.insert(0, labeled("net", params_text(params, reg)))
        loss, grads = c.expect_tuple(got, 2, "(loss, grads)")
        want_loss, want_grads = ref.loss(x, y)
        data_loss = want_loss - 0.5 * reg * sum(float(_np.sum(params[k] ** 2)) for k in ("W1", "W2"))
        c.expect_number(loss, want_loss, what="the loss", bugs=[
            ("the regularization term is missing from the loss: add 0.5 * reg * (sum(W1**2) + sum(W2**2))",
             lambda: data_loss),
            ("the regularization term is twice too large: it is 0.5 * reg * sum(W**2), whose gradient is reg * W",
             lambda: data_loss + 2 * (want_loss - data_loss)),
            ("the biases are regularized too: only W1 and W2 are",
             lambda: want_loss + 0.5 * reg * sum(float(_np.sum(params[k] ** 2)) for k in ("b1", "b2"))),
        ])
        if not isinstance(grads, dict) or set(grads) != set(want_grads):
            raise c.problem(f"grads should be a dict with keys W1, b1, W2, b2, got {describe(grads)}.",
                            hint="grads has one entry per entry of self.params, under the same name")
        for k in ("W2", "b2", "W1", "b1"):
            bugs = []
            if k.startswith("W") and reg:
                bugs.append((f"the regularization gradient reg * {k} is missing from grads['{k}']",
                             lambda k=k: want_grads[k] - reg * params[k]))
            if k.startswith("b") and reg:
                bugs.append((f"grads['{k}'] includes reg * {k}: biases are not regularized",
                             lambda k=k: want_grads[k] + reg * params[k]))
            if k in ("W1", "b1"):
                bugs.append((f"grads['{k}'] ignores the ReLU: backpropagate through relu_backward (with the "
                             "cache of relu_forward) between the two affine layers",
                             lambda k=k: _no_relu_backward_grads(params, reg, x, y)[k]))
            c.expect_array(grads[k], want_grads[k], what=f"grads['{k}']", bugs=bugs,
                           hint="backpropagate in reverse order: softmax_cross_entropy, affine_backward (layer 2), "
                                "relu_backward, affine_backward (layer 1), then add reg * W to the weights' gradients")
        return net

    if not hidden:
        gen = seeded_rng(151)
        params = _net_params(gen, 5, 4, 3)
        x = gen.standard_normal((6, 5))
        y = _np.array([0, 2, 1, 1, 0, 2])
        with c.test("scores when y is None"):
            scores(params, 0.0, x)
        with c.test("loss and gradients, reg = 0"):
            loss_and_grads(params, 0.0, x, y)
        with c.test("loss and gradients, reg = 0.1"):
            loss_and_grads(params, 0.1, x, y)
    elif c.fixed_hidden_cases:
        gen = seeded_rng(152)
        with c.test("a larger random net with dead hidden units, reg = 0.5"):
            params = _net_params(gen, 30, 16, 10, dead_units=True)
            loss_and_grads(params, 0.5, gen.standard_normal((20, 30)), gen.integers(0, 10, size=20))
        with c.test("a batch of one"):
            params = _net_params(gen, 8, 5, 4)
            loss_and_grads(params, 0.05, gen.standard_normal((1, 8)), _np.array([3]))
        with c.test("params, x and y are not modified"):
            params = _net_params(gen, 6, 5, 3)
            x = gen.standard_normal((4, 6))
            y = gen.integers(0, 3, size=4)
            net = loss_and_grads(params, 0.2, x, y, unmodified=("x", "y"))
            if not same_value(net.params, params):
                raise c.problem("net.loss changed the parameters in net.params.",
                                hint="loss only computes; updating the weights is the optimizer's job")
        with c.test("scores of a larger batch"):
            params = _net_params(gen, 30, 16, 10)
            scores(params, 0.0, gen.standard_normal((25, 30)))
    if hidden:
        for title, rng in c.random_cases("scores, then loss and gradients with dead hidden units and reg > 0"):
            with c.test(title, random=True):
                d, h, classes, n = (int(rng.integers(lo, hi)) for lo, hi in ((3, 13), (4, 11), (2, 7), (2, 11)))
                params = _net_params(rng, d, h, classes, dead_units=True)
                reg = float(rng.uniform(0.05, 1.0))
                x = rng.standard_normal((n, d))
                scores(params, reg, x)
                net = loss_and_grads(params, reg, x, rng.integers(0, classes, size=n), unmodified=("x", "y"))
                if not same_value(net.params, params):
                    raise c.problem("net.loss changed the parameters in net.params.",
                                    hint="loss only computes; updating the weights is the optimizer's job")
    c.done()


def _no_relu_backward_grads(params, reg, x, y):
    """The gradients of a TwoLayerNet whose backward pass skips relu_backward."""
    x2 = x.reshape(len(x), -1)
    a1 = x2 @ params["W1"] + params["b1"]
    h = _np.maximum(a1, 0)
    scores = h @ params["W2"] + params["b2"]
    _, dscores = _ref.softmax_cross_entropy(scores, y)
    dh = dscores @ params["W2"].T
    return {
        "W2": h.T @ dscores + reg * params["W2"],
        "b2": dscores.sum(axis=0),
        "W1": x2.T @ dh + reg * params["W1"],
        "b1": dh.sum(axis=0),
    }
