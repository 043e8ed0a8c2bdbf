"""The benchmark's pure parts: product shapes and FLOPs by hand, BLAS report, kernel warnings.

The timings themselves are printed by ``mnistlab bench``, never asserted here.
"""

import numpy as np
import pytest

from mnistlab import bench


def test_epoch_products_of_a_tiny_net_by_hand():
    # 3 -> 2 -> 4, 5 samples in batches of 2: two full batches and one of 1 row.
    shapes = bench.epoch_matmul_shapes((3, 2, 4), n=5, batch_size=2)
    assert shapes == [
        ("x @ W", 2, 3, 2, 2), ("x.T @ dout", 3, 2, 2, 2),
        ("x @ W", 2, 2, 4, 2), ("x.T @ dout", 2, 2, 4, 2), ("dout @ W.T", 2, 4, 2, 2),
        ("x @ W", 1, 3, 2, 1), ("x.T @ dout", 3, 1, 2, 1),
        ("x @ W", 1, 2, 4, 1), ("x.T @ dout", 2, 1, 4, 1), ("dout @ W.T", 1, 4, 2, 1),
    ]


def test_default_epoch_has_2345_products_and_the_flops_of_the_closed_form():
    shapes = bench.epoch_matmul_shapes((784, 256, 10), n=60_000, batch_size=128)
    # 468 batches of 128 and one of 96; 5 products each (no dx for the first layer)
    assert sum(count for *_, count in shapes) == 469 * 5
    flops = sum(2 * m * k * cols * count for _, m, k, cols, count in shapes)
    assert flops == bench.epoch_matmul_flops((784, 256, 10), 60_000)
    assert flops == 2 * 60_000 * (2 * 784 * 256 + 3 * 256 * 10)


@pytest.mark.parametrize("n, batch_size, groups", [(256, 128, [(128, 2)]), (100, 128, [(100, 1)]),
                                                   (300, 128, [(128, 2), (44, 1)])])
def test_batch_groups_cover_every_sample_once(n, batch_size, groups):
    got = bench._batch_groups(n, batch_size)
    assert got == groups
    assert sum(rows * count for rows, count in got) == n


def test_shape_matched_runner_times_the_products_it_was_given():
    run = bench.shape_matched_runner((6, 5, 3), n=20, batch_size=8, dtype=np.float32, rng=0)
    seconds = run()
    assert isinstance(seconds, float) and seconds > 0


def test_kernel_warnings_name_the_variable_and_the_way_around_it():
    assert bench.kernel_warnings({}) == []
    assert bench.kernel_warnings({"OPENBLAS_CORETYPE": "", "PATH": "/bin"}) == []
    lines = bench.kernel_warnings({"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "1048576"})
    assert "OPENBLAS_CORETYPE=Haswell" in lines[0] and "kernel" in lines[0]
    assert "OPENBLAS_L2_SIZE=1048576" in lines[1]
    assert lines[-1].endswith("env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE mnistlab bench")


def test_blas_report_lines():
    info = {"internal_api": "openblas", "version": "0.3.31", "architecture": "SkylakeX",
            "num_threads": 2, "filepath": "/x/numpy.libs/libopenblas.so", "user_api": "blas"}
    (line,) = bench.format_blas_info([info])
    for part in ("openblas 0.3.31", "kernel SkylakeX", "2 threads", "/x/numpy.libs/libopenblas.so"):
        assert part in line
    assert "unknown" in bench.format_blas_info([])[0]


def test_numpys_blas_is_found_and_its_threads_follow_threadpoolctl():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    infos = bench.numpy_blas_info()
    assert infos and all(info["user_api"] == "blas" for info in infos)
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        assert all(info["num_threads"] == 1 for info in bench.numpy_blas_info())


def test_the_floor_copies_every_sample_once_per_epoch_and_updates_with_momentum():
    # Oracle by hand: with every image all ones, each full batch's step is the same, s = ones^T dout
    # (a column sum of dout), whatever the order. With momentum mu, after k steps v_k = s (1 - mu^k) / (1 - mu)
    # and the weights have moved by sum_j v_j = s (k - mu (1 - mu^k) / (1 - mu)) / (1 - mu).
    n, batch, mu = 24, 8, 0.5
    run = bench.floor_runner(np.ones((n, 6), np.float32), (6, 5, 3), batch_size=batch, momentum=mu, rng=0)
    w0 = run.weights[0].copy()
    assert run() > 0
    k = n // batch
    s = np.ones(batch, np.float32) @ run.douts[0]  # the first layer's step: ones^T dout, shape (5,)
    moved = s * (k - mu * (1 - mu**k) / (1 - mu)) / (1 - mu)
    np.testing.assert_allclose(run.weights[0] - w0, np.broadcast_to(moved, w0.shape), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(run.velocities[0], np.broadcast_to(s * (1 - mu**k) / (1 - mu), w0.shape), rtol=1e-5)


def test_the_floor_sees_every_sample_of_a_short_last_batch():
    # Momentum 0: the first layer's weights move by the sum over batches of x_b^T dout[:len(x_b)]. With
    # dout's rows all equal (r), that is outer(sum of all images, r), whatever the order and the short batch.
    rng = np.random.default_rng(1)
    x = rng.standard_normal((21, 4)).astype(np.float64)
    run = bench.floor_runner(x, (4, 3, 2), batch_size=8, momentum=0.0, rng=2)
    r = np.array([1.0, -2.0, 0.5])
    run.douts[0][...] = r
    w0 = run.weights[0].copy()
    run()
    np.testing.assert_allclose(run.weights[0] - w0, np.outer(x.sum(axis=0), r), rtol=1e-10)


def test_the_floor_with_the_sgd_step_moves_each_weight_by_its_steps_and_keeps_no_velocity():
    # All-ones images: each of the k full batches has the same step s = ones^T dout, so plain SGD
    # moves the first layer by k * s (momentum 0.5 is given and must play no part).
    n, batch = 24, 8
    run = bench.floor_runner(np.ones((n, 6), np.float32), (6, 5, 3), batch_size=batch, momentum=0.5,
                             rng=0, update="sgd")
    w0 = run.weights[0].copy()
    run()
    s = np.ones(batch, np.float32) @ run.douts[0]
    # (atol: three float32 additions to weights of size ~1 round by up to 3 * 6e-8 each)
    np.testing.assert_allclose(run.weights[0] - w0, np.broadcast_to((n // batch) * s, w0.shape),
                               rtol=1e-5, atol=5e-7)
    assert all(not v.any() for v in run.velocities)


def test_the_floor_without_an_update_leaves_the_weights_as_they_were():
    run = bench.floor_runner(np.ones((20, 6), np.float32), (6, 5, 3), batch_size=8, rng=0, update="none")
    before = [w.copy() for w in run.weights]
    assert run() > 0
    for w, w0 in zip(run.weights, before):
        np.testing.assert_array_equal(w, w0)


def test_the_floor_names_the_updates_it_knows():
    with pytest.raises(ValueError, match="update must be one of .*'adam'"):
        bench.floor_runner(np.ones((4, 6), np.float32), (6, 5, 3), batch_size=2, update="adam")
