"""Numerical tolerances shared by the tests, the grading checks and the book.

Every comparison of floating-point results in this project names one of these
constants, so that a tolerance is chosen once, with its reason next to it.
"""

#: Relative error below which an analytic gradient agrees with central
#: differences in float64 (h = 1e-5 gives truncation error ~1e-10 and
#: round-off ~1e-11 relative to O(1) values; 1e-7 leaves a wide margin but still
#: catches any real mistake, which shows up at 1e-2 or worse).
GRAD_REL_TOL = 1e-7

#: Relative error allowed for gradients through kinks (ReLU) or float32 code.
GRAD_REL_TOL_LOOSE = 1e-5

#: rtol/atol for comparing a float64 result with the reference implementation.
REF_RTOL = 1e-6
REF_ATOL = 1e-8

#: rtol/atol for comparing float32 results (about 7 significant digits).
FLOAT32_RTOL = 1e-4
FLOAT32_ATOL = 1e-6

#: Step for central differences in float64.
FD_STEP = 1e-5

#: Largest change a numerical gradient may leave in its input ``x`` (grading of
#: chapter 3's ``numerical_gradient``). Restoring by arithmetic
#: (``x[i] += h; ...; x[i] -= h``) leaves ~1e-16 of round-off, which is fine;
#: forgetting to restore leaves ``h`` = 1e-5.
GRADING_RESTORE_ATOL = 1e-12
