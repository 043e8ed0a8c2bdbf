"""The grader: what only an instructor runs (and the student's self-check, which runs the same executor).

``mnistlab grade`` (:mod:`~mnistlab.grader.grade`) grades a class: :mod:`~mnistlab.grader.preflight`
turns every upload into a gradable notebook or a rejection with the reason; :mod:`~mnistlab.grader.pool`
runs long-lived workers in parallel and is the only writer of the gradebook;
:mod:`~mnistlab.grader.worker` grades one submission in a private copy of the course, in a kernel
guarded by :mod:`~mnistlab.grader.sandbox` and run by :mod:`~mnistlab.grader.robust_execute`, then
re-checks every graded function in an isolated process (:mod:`~mnistlab.grader.isolation`, whose
child is :mod:`~mnistlab.grader.isolated_child`); :mod:`~mnistlab.grader.item_analysis` reports how
each function fared; :mod:`~mnistlab.grader.bench` measures the throughput.
``mnistlab check`` is :mod:`~mnistlab.grader.selfcheck`. Shared limits and the kernels' environment are
:mod:`~mnistlab.grader.settings`; :mod:`~mnistlab.grader.commands` only parses arguments.

The grader may import the checks and the teaching library; neither imports the grader
(import-linter contracts in ``pyproject.toml``).
"""
