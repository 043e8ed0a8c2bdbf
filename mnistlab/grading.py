"""The old name of :mod:`mnistlab.checks`, for notebooks released before the checks had their own package.

Assignment notebooks released with mnistlab 0.1 begin with ``from mnistlab import grading`` and call
``grading.check_relu(relu)``; students who update the package keep those notebooks. This module *is*
:mod:`mnistlab.checks` (the same module object), so those cells run the same checks. New notebooks
import ``mnistlab.checks``.
"""

import sys

from mnistlab import checks

sys.modules[__name__] = checks
