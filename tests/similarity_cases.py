"""Crafted submissions for the copy detection (``tests/test_similarity.py``): disguised copies and honest work.

Every version is a cell as a student hands it in. The honest ones are independent correct solutions
written the ways students write them; none of them may be paired with another or with the reference.
"""

from __future__ import annotations

import inspect

from mnistlab import functional

#: The published reference of softmax and cross_entropy, as a student reads them in the book.
REFERENCE = {"softmax": inspect.getsource(functional.softmax),
             "cross_entropy": inspect.getsource(functional.cross_entropy),
             "relu": inspect.getsource(functional.relu)}

#: The released starter cells (signature, docstring, the stub nbgrader leaves).
STARTER = {
    "softmax": 'def softmax(z, axis=-1):\n    """Softmax along axis."""\n    # YOUR CODE HERE\n    raise NotImplementedError()\n',
    "cross_entropy": 'def cross_entropy(logits, labels):\n    """Mean cross-entropy."""\n    # YOUR CODE HERE\n'
                     '    raise NotImplementedError()\n',
    "relu": 'def relu(x):\n    """ReLU."""\n    # YOUR CODE HERE\n    raise NotImplementedError()\n',
}

#: One student's own cross_entropy, longer than the minimum size: the original of the copies below.
ORIGINAL = '''def cross_entropy(logits, labels):
    """Mean cross-entropy between softmax(logits) and the labels."""
    logits = np.asarray(logits, dtype=float)
    labels = np.asarray(labels)
    n = logits.shape[0]
    # shift for stability, then log-sum-exp
    m = logits.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
    if labels.ndim == 2:
        picked = (logits * labels).sum(axis=1)
    else:
        picked = logits[np.arange(n), labels]
    return float(np.mean(lse - picked))
'''

#: The same, variables renamed, comments and docstring rewritten, spacing and quotes changed.
RENAMED = '''def cross_entropy(logits, labels):
    """My cross entropy."""
    # convert the inputs
    scores = np.asarray(logits, dtype = float)
    y = np.asarray(labels)
    count = scores.shape[0]
    # max trick so exp does not overflow
    biggest = scores.max(axis = 1, keepdims = True)
    log_norm = biggest[:, 0] + np.log(np.exp(scores - biggest).sum(axis = 1))   # log Z
    if y.ndim == 2:
        # one-hot labels
        correct = (scores * y).sum(axis = 1)
    else:
        correct = scores[np.arange(count), y]
    return float(np.mean(log_norm - correct))
'''

#: The same, its independent statements reordered (and one name changed).
REORDERED = '''def cross_entropy(logits, labels):
    """Mean cross-entropy between softmax(logits) and the labels."""
    labels = np.asarray(labels)
    logits = np.asarray(logits, dtype=float)
    m = logits.max(axis=1, keepdims=True)
    n = logits.shape[0]
    lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
    if labels.ndim != 2:
        pass
    if labels.ndim == 2:
        chosen = (logits * labels).sum(axis=1)
    else:
        chosen = logits[np.arange(n), labels]
    return float(np.mean(lse - chosen))
'''.replace("    if labels.ndim != 2:\n        pass\n", "")

#: The reference softmax, handed in with new names and comments.
REFERENCE_COPY = '''def softmax(z, axis=-1):
    """Softmax."""
    # make it an array
    scores = np.asarray(z)
    # subtract the max so exp never overflows
    stable = scores - np.max(scores, axis=axis, keepdims=True)
    e = np.exp(stable)
    return e / np.sum(e, axis=axis, keepdims=True)
'''

#: Honest, independent, correct solutions of the same short functions, as students write them.
HONEST = {
    "relu": {
        "h_maximum": "def relu(x):\n    return np.maximum(x, 0)\n",
        "h_where": "def relu(x):\n    x = np.asarray(x)\n    return np.where(x > 0, x, 0)\n",
        "h_mask": "def relu(x):\n    x = np.asarray(x)\n    return x * (x > 0)\n",
        "h_copy": "def relu(x):\n    out = np.array(x, copy=True)\n    out[out < 0] = 0\n    return out\n",
        "h_clip": "def relu(x):\n    return np.clip(x, 0, None)\n",
    },
    "softmax": {
        "h_keepdims": ("def softmax(z, axis=-1):\n    z = np.asarray(z)\n    z = z - z.max(axis=axis, keepdims=True)\n"
                       "    ez = np.exp(z)\n    return ez / ez.sum(axis=axis, keepdims=True)\n"),
        "h_expand": ("def softmax(z, axis=-1):\n    m = np.expand_dims(np.max(z, axis=axis), axis)\n"
                     "    e = np.exp(z - m)\n    s = np.expand_dims(np.sum(e, axis=axis), axis)\n    return e / s\n"),
        "h_logsumexp": ("def softmax(z, axis=-1):\n    z = np.asarray(z, dtype=float)\n"
                        "    m = np.max(z, axis=axis, keepdims=True)\n"
                        "    lse = m + np.log(np.sum(np.exp(z - m), axis=axis, keepdims=True))\n"
                        "    return np.exp(z - lse)\n"),
        "h_moveaxis": ("def softmax(z, axis=-1):\n    z = np.moveaxis(np.asarray(z), axis, -1)\n"
                       "    shifted = z - z.max(-1)[..., None]\n    num = np.exp(shifted)\n"
                       "    out = num / num.sum(-1)[..., None]\n    return np.moveaxis(out, -1, axis)\n"),
        "h_textbook": ("def softmax(z, axis=-1):\n    e = np.exp(z - np.max(z, axis=axis, keepdims=True))\n"
                       "    return e / np.sum(e, axis=axis, keepdims=True)\n"),
        "h_textbook_methods": ("def softmax(z, axis=-1):\n    exps = np.exp(z - z.max(axis=axis, keepdims=True))\n"
                               "    return exps / exps.sum(axis=axis, keepdims=True)\n"),
        "h_apply": ("def softmax(z, axis=-1):\n    def one(v):\n        v = v - v.max()\n        e = np.exp(v)\n"
                    "        return e / e.sum()\n    return np.apply_along_axis(one, axis, np.asarray(z))\n"),
    },
    "cross_entropy": {
        "h_logsoftmax": ("def cross_entropy(logits, labels):\n    logp = log_softmax(logits, axis=1)\n"
                         "    labels = np.asarray(labels)\n    if labels.ndim == 1:\n"
                         "        labels = np.eye(logits.shape[1])[labels]\n    return -np.sum(labels * logp) / logits.shape[0]\n"),
        "h_loop": ("def cross_entropy(logits, labels):\n    total = 0.0\n    n = len(logits)\n    for i in range(n):\n"
                   "        row = logits[i] - np.max(logits[i])\n        logz = np.log(np.sum(np.exp(row)))\n"
                   "        k = labels[i] if np.ndim(labels) == 1 else int(np.argmax(labels[i]))\n"
                   "        total += logz - row[k]\n    return total / n\n"),
        "h_softmax": ("def cross_entropy(logits, labels):\n    p = softmax(logits)\n    N = p.shape[0]\n"
                      "    if labels.ndim == 2:\n        labels = labels.argmax(axis=1)\n"
                      "    return -np.mean(np.log(p[np.arange(N), labels] + 1e-12))\n"),
    },
}
