"""The mnistlab command line: help, argument errors, data info without the network."""

import subprocess
import sys

import pytest

from mnistlab.cli import build_parser, main


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("data", "train", "bench"):
        assert command in out


def test_train_defaults_are_the_documented_ones():
    args = build_parser().parse_args(["train"])
    assert args.hidden == [256] and args.optimizer == "sgd_momentum"
    assert (args.lr, args.momentum, args.batch_size, args.epochs, args.dtype) == (0.1, 0.9, 128, 10, "float32")


def test_data_info_on_an_empty_folder_reports_missing_files(tmp_path, capsys):
    assert main(["data", "info", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path) in out
    assert out.count("missing") >= 4


def test_unknown_optimizer_is_rejected_by_argparse(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--optimizer", "adam"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_console_script_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "mnistlab.cli", "data", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "fetch" in result.stdout and "info" in result.stdout


def test_bench_passes_threads_to_the_run_without_a_new_process(monkeypatch):
    from mnistlab import bench

    calls = []
    monkeypatch.setattr(bench, "run", lambda **kw: calls.append(kw))
    assert main(["bench", "--threads", "1", "--repeats", "2", "--no-memory"]) == 0
    assert calls == [{"repeats": 2, "data_dir": None, "threads": 1, "memory": False}]
