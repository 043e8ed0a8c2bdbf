"""Wrong versions of the functions of a4_backprop."""

from .harness import bug

#: The network's loss calls every layer; the layers call nothing graded.
CALLS = {
    "TwoLayerNet.loss": {"affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_cross_entropy"},
}

BUGS = [
    # affine_forward
    bug("affine_forward", "no_bias", "forgets the bias",
        ("out = x.reshape(x.shape[0], -1) @ w + b", "out = x.reshape(x.shape[0], -1) @ w")),
    bug("affine_forward", "transposed_weights", "multiplies by w.T",
        ("out = x.reshape(x.shape[0], -1) @ w + b", "out = x.reshape(x.shape[0], -1) @ w.T + b")),
    bug("affine_forward", "incomplete_cache", "caches (x, w) only",
        ("return out, (x, w, b)", "return out, (x, w)")),
    bug("affine_forward", "no_flatten", "does not flatten images (N, 28, 28) to rows",
        ("out = x.reshape(x.shape[0], -1) @ w + b", "out = x @ w + b"), caught_by="hidden"),
    # affine_backward
    bug("affine_backward", "transposed_dw", "computes dout.T @ x, the transpose of dw",
        ("dw = x.reshape(x.shape[0], -1).T @ dout", "dw = dout.T @ x.reshape(x.shape[0], -1)")),
    bug("affine_backward", "db_wrong_axis", "sums dout over the wrong axis",
        ("db = dout.sum(axis=0)", "db = dout.sum(axis=1)")),
    bug("affine_backward", "db_mean", "averages dout over the batch",
        ("db = dout.sum(axis=0)", "db = dout.mean(axis=0)")),
    bug("affine_backward", "dw_averaged", "divides dw by N (the loss already averaged)",
        ("dw = x.reshape(x.shape[0], -1).T @ dout", "dw = x.reshape(x.shape[0], -1).T @ dout / x.shape[0]")),
    bug("affine_backward", "dx_not_reshaped", "returns dx as rows, not in x's shape",
        ("dx = (dout @ w.T).reshape(x.shape)", "dx = dout @ w.T"), caught_by="hidden"),
    # relu_forward
    bug("relu_forward", "abs", "returns |x|",
        ("return np.maximum(x, 0), x", "return np.abs(x), x")),
    bug("relu_forward", "derivative", "returns the mask x > 0 as the output",
        ("return np.maximum(x, 0), x", "return (x > 0).astype(x.dtype), x")),
    bug("relu_forward", "no_cache", "returns only out",
        ("return np.maximum(x, 0), x", "return np.maximum(x, 0)")),
    bug("relu_forward", "in_place", "writes the output into x",
        ("return np.maximum(x, 0), x", "np.maximum(x, 0, out=x)\n    return x, x"), caught_by="hidden"),
    # relu_backward
    bug("relu_backward", "times_x", "multiplies dout by x instead of by the mask",
        ("return dout * (x > 0)", "return dout * x")),
    bug("relu_backward", "mask_only", "returns the mask, forgetting dout",
        ("return dout * (x > 0)", "return (x > 0).astype(float)")),
    bug("relu_backward", "mask_from_dout", "takes the mask from dout instead of x",
        ("return dout * (x > 0)", "return dout * (dout > 0)")),
    bug("relu_backward", "greater_equal", "lets the gradient through at x == 0",
        ("return dout * (x > 0)", "return dout * (x >= 0)"), caught_by="hidden"),
    bug("relu_backward", "in_place", "zeroes the caller's dout in place",
        ("return dout * (x > 0)", "dout[x <= 0] = 0\n    return dout"), caught_by="hidden"),
    # softmax_cross_entropy
    bug("softmax_cross_entropy", "no_divide_by_n", "does not average the gradient over the batch",
        ("return float(loss), dlogits / n", "return float(loss), dlogits")),
    bug("softmax_cross_entropy", "sum_loss", "sums the loss over the batch",
        ("loss = -np.mean(logp[np.arange(n), labels])", "loss = -np.sum(logp[np.arange(n), labels])")),
    bug("softmax_cross_entropy", "no_one_hot_subtraction", "forgets to subtract 1 at the true class",
        ("    dlogits[np.arange(n), labels] -= 1\n", "")),
    bug("softmax_cross_entropy", "column_subtract", "subtracts 1 from whole columns",
        ("dlogits[np.arange(n), labels] -= 1", "dlogits[:, labels] -= 1")),
    bug("softmax_cross_entropy", "no_max_shift", "exponentiates the raw scores",
        ("shifted = logits - np.max(logits, axis=1, keepdims=True)", "shifted = logits"), caught_by="hidden"),
    bug("softmax_cross_entropy", "in_place_shift", "shifts the caller's logits in place",
        ("shifted = logits - np.max(logits, axis=1, keepdims=True)",
         "logits -= np.max(logits, axis=1, keepdims=True)\n    shifted = logits"), caught_by="hidden"),
    # TwoLayerNet.loss
    bug("TwoLayerNet.loss", "reg_gradient_missing", "adds the L2 penalty to the loss but not to the gradients",
        ('"W1": dW1 + self.reg * p["W1"]', '"W1": dW1'), ('"W2": dW2 + self.reg * p["W2"]', '"W2": dW2')),
    bug("TwoLayerNet.loss", "reg_loss_without_half", "uses reg * sum(W**2), inconsistent with the gradient reg * W",
        ("reg_loss = 0.5 * self.reg *", "reg_loss = self.reg *")),
    bug("TwoLayerNet.loss", "skips_relu_backward", "backpropagates through the ReLU as if it were the identity",
        ("dhidden = relu_backward(dactivated, relu_cache)", "dhidden = dactivated")),
    bug("TwoLayerNet.loss", "returns_probabilities", "returns softmax probabilities when y is None",
        ("            return scores\n",
         "            return np.exp(scores) / np.sum(np.exp(scores), axis=1, keepdims=True)\n")),
    bug("TwoLayerNet.loss", "regularizes_biases", "adds reg * b to the biases' gradients",
        ('"b1": db1,', '"b1": db1 + self.reg * p["b1"],'), ('"b2": db2,', '"b2": db2 + self.reg * p["b2"],')),
]
