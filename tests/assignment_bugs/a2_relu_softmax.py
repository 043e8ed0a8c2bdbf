"""Wrong versions of the functions of a2_relu_softmax."""

from .harness import bug

#: cross_entropy's solution calls log_softmax (so it may lose points for log_softmax's bugs).
CALLS = {"cross_entropy": {"log_softmax"}}

BUGS = [
    # relu
    bug("relu", "abs", "returns |x|",
        ("return np.maximum(np.asarray(x), 0)", "return np.abs(np.asarray(x))")),
    bug("relu", "derivative", "returns the derivative (x > 0) instead of the values",
        ("return np.maximum(np.asarray(x), 0)", "return (np.asarray(x) > 0).astype(float)")),
    bug("relu", "python_max", "uses Python's max, which compares whole arrays",
        ("return np.maximum(np.asarray(x), 0)", "return max(x, 0)")),
    bug("relu", "in_place", "zeroes the negative entries of the caller's array",
        ("return np.maximum(np.asarray(x), 0)", "x = np.asarray(x)\n    x[x < 0] = 0\n    return x"),
        caught_by="hidden"),
    bug("relu", "float64_cast", "turns float32 into float64",
        ("return np.maximum(np.asarray(x), 0)", "return np.maximum(np.asarray(x, dtype=float), 0)"),
        caught_by="hidden"),
    # sigmoid
    bug("sigmoid", "sign_flip", "computes 1 / (1 + exp(x))",
        ("z = np.exp(-np.abs(x))\n    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))",
         "return 1 / (1 + np.exp(x))")),
    bug("sigmoid", "naive_overflow", "the textbook formula, which overflows for x < -709",
        ("z = np.exp(-np.abs(x))\n    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))",
         "return 1 / (1 + np.exp(-x))"), caught_by="hidden"),
    bug("sigmoid", "where_both_branches", "np.where of two formulas, each of which overflows on one side",
        ("z = np.exp(-np.abs(x))\n    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))",
         "return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))"), caught_by="hidden"),
    bug("sigmoid", "float64_cast", "turns float32 into float64",
        ("x = np.asarray(x)", "x = np.asarray(x, dtype=np.float64)"), caught_by="hidden"),
    # softmax
    bug("softmax", "wrong_axis", "normalizes the columns",
        ("return e / np.sum(e, axis=axis, keepdims=True)", "return e / np.sum(e, axis=0, keepdims=True)")),
    bug("softmax", "no_keepdims", "reduces without keepdims, so the row maxima and sums broadcast along the wrong axis",
        ("e = np.exp(z - np.max(z, axis=axis, keepdims=True))\n    return e / np.sum(e, axis=axis, keepdims=True)",
         "e = np.exp(z - np.max(z, axis=axis))\n    return e / np.sum(e, axis=axis)")),
    bug("softmax", "no_max_shift", "exponentiates the raw scores",
        ("e = np.exp(z - np.max(z, axis=axis, keepdims=True))", "e = np.exp(z)"), caught_by="hidden"),
    bug("softmax", "global_max", "subtracts the maximum of the whole array instead of each row's",
        ("np.max(z, axis=axis, keepdims=True)", "np.max(z)"), caught_by="hidden"),
    bug("softmax", "ignores_axis", "always normalizes along axis 1",
        ("e = np.exp(z - np.max(z, axis=axis, keepdims=True))\n    return e / np.sum(e, axis=axis, keepdims=True)",
         "e = np.exp(z - np.max(z, axis=1, keepdims=True))\n    return e / np.sum(e, axis=1, keepdims=True)"),
        caught_by="hidden"),
    # log_softmax
    bug("log_softmax", "sum_over_all", "sums the exponentials over the whole array",
        ("np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))", "np.log(np.sum(np.exp(shifted)))")),
    bug("log_softmax", "sign_flip", "adds the log-sum-exp instead of subtracting it",
        ("return shifted - np.log(", "return shifted + np.log(")),
    bug("log_softmax", "log_of_softmax", "takes np.log(softmax(z)), which is -inf where softmax underflows",
        ("z = np.asarray(z)\n    shifted = z - np.max(z, axis=axis, keepdims=True)\n"
         "    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))",
         "return np.log(softmax(z, axis=axis))"), caught_by="hidden"),
    bug("log_softmax", "no_max_shift", "skips the max-shift",
        ("shifted = z - np.max(z, axis=axis, keepdims=True)", "shifted = z"), caught_by="hidden"),
    # cross_entropy
    bug("cross_entropy", "sum_not_mean", "sums the loss over the batch",
        ("return float(-np.mean(logp[np.arange(n), labels]))", "return float(-np.sum(logp[np.arange(n), labels]))")),
    bug("cross_entropy", "positive_sign", "forgets the minus sign",
        ("return float(-np.mean(logp[np.arange(n), labels]))", "return float(np.mean(logp[np.arange(n), labels]))")),
    bug("cross_entropy", "column_indexing", "indexes logp[:, labels] (N columns for every row)",
        ("return float(-np.mean(logp[np.arange(n), labels]))", "return float(-np.mean(logp[:, labels]))")),
    bug("cross_entropy", "no_one_hot", "handles class ids only, not one-hot rows",
        ("    if labels.ndim == 2:\n        return float(-np.sum(labels * logp) / n)\n", "")),
    bug("cross_entropy", "log_of_softmax", "computes -log(softmax(logits)), infinite for confident mistakes",
        ("logp = log_softmax(logits, axis=1)", "logp = np.log(softmax(logits, axis=1))"), caught_by="hidden"),
]
