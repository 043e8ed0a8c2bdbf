"""Wrong versions of the functions of a3_numerical_gradients."""

from .harness import bug

CALLS: dict[str, set] = {}

BUGS = [
    # numerical_gradient
    bug("numerical_gradient", "forward_difference", "uses the forward difference (f(x + h) - f(x)) / h",
        ("x[ix] = old - h\n        f_minus = f(x)\n        x[ix] = old\n"
         "        grad[ix] = (f_plus - f_minus) / (2 * h)",
         "x[ix] = old\n        f_minus = f(x)\n        grad[ix] = (f_plus - f_minus) / h")),
    bug("numerical_gradient", "no_restore", "forgets to restore x[ix]",
        ("        x[ix] = old\n        grad[ix]", "        grad[ix]")),
    bug("numerical_gradient", "perturbs_copy", "perturbs copies of x, which f (reading the array itself) never sees",
        ("        old = x[ix]\n        x[ix] = old + h\n        f_plus = f(x)\n        x[ix] = old - h\n"
         "        f_minus = f(x)\n        x[ix] = old\n",
         "        x_plus = x.copy()\n        x_plus[ix] += h\n        f_plus = f(x_plus)\n"
         "        x_minus = x.copy()\n        x_minus[ix] -= h\n        f_minus = f(x_minus)\n")),
    bug("numerical_gradient", "rows_only", "loops over the first axis only (x[i] is a whole row of a 2-D x)",
        ("for ix in np.ndindex(x.shape):", "for ix in range(len(x)):")),
    bug("numerical_gradient", "missing_two", "divides by h instead of 2h",
        ("(f_plus - f_minus) / (2 * h)", "(f_plus - f_minus) / h")),
    bug("numerical_gradient", "ignores_h", "always uses the step 1e-5",
        ("grad = np.zeros(x.shape)", "grad = np.zeros(x.shape)\n    h = 1e-5"), caught_by="hidden"),
    # rel_error
    bug("rel_error", "no_abs_in_denominator", "divides by a + b, not |a| + |b|",
        ("np.maximum(1e-8, np.abs(a) + np.abs(b))", "np.maximum(1e-8, a + b)")),
    bug("rel_error", "mean_not_max", "averages the relative errors",
        ("return float(np.max(", "return float(np.mean(")),
    bug("rel_error", "absolute_error", "forgets to divide: the absolute error",
        ("np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))", "np.abs(a - b)")),
    bug("rel_error", "returns_array", "returns the elementwise errors, not their maximum",
        ("return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))",
         "return np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))")),
    bug("rel_error", "no_floor", "divides by |a| + |b| without the 1e-8 floor (0 / 0 where both are 0)",
        ("np.maximum(1e-8, np.abs(a) + np.abs(b))", "(np.abs(a) + np.abs(b))"), caught_by="hidden"),
]
