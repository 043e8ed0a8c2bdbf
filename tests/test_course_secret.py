"""The course secret and the grading seeds (mnistlab.grader.course_secret, mnistlab.checks.hidden_draws), in-process."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import subprocess
import sys

import pytest

from mnistlab import cli
from mnistlab.checks import hidden_draws
from mnistlab.grader import course_secret as cs


def test_create_writes_a_0600_secret_once(tmp_path):
    path = cs.create_secret(tmp_path)
    assert path == tmp_path / ".mnistlab-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = cs.read_secret(tmp_path)
    assert len(secret) == 32 and path.read_text().strip() == secret.hex()
    with pytest.raises(FileExistsError):
        cs.create_secret(tmp_path)
    assert cs.read_secret(tmp_path) == secret  # never replaced
    assert cs.ensure_secret(tmp_path) == (secret, False)
    assert [p.name for p in tmp_path.iterdir()] == [".mnistlab-secret"]  # no temporary file left behind
    assert cs.loose_permissions(tmp_path) is None
    path.chmod(0o644)
    assert "chmod 600" in cs.loose_permissions(tmp_path)


def test_ensure_makes_one_when_missing(tmp_path):
    secret, created = cs.ensure_secret(tmp_path)
    assert created and cs.read_secret(tmp_path) == secret


@pytest.mark.parametrize("content, words", [
    (None, ["does not exist", "mnistlab secret"]),
    ("", ["not 64 lower-case hexadecimal digits"]),
    ("ab" * 31, ["not 64 lower-case hexadecimal digits"]),
    ("zz" * 32, ["not 64 lower-case hexadecimal digits", "backup"]),
])
def test_bad_secrets_are_clear_errors(tmp_path, content, words):
    if content is not None:
        (tmp_path / cs.SECRET_FILE).write_text(content)
    with pytest.raises(cs.SecretError) as info:
        cs.read_secret(tmp_path)
    assert all(w in str(info.value) for w in words), str(info.value)


def test_a_folder_instead_of_a_file_is_a_clear_error(tmp_path):
    (tmp_path / cs.SECRET_FILE).mkdir()
    with pytest.raises(cs.SecretError, match="cannot be read"):
        cs.read_secret(tmp_path)


def test_grading_seed_is_hmac_sha256_of_assignment_and_student():
    secret = bytes(range(32))
    seed = cs.grading_seed(secret, "a2_relu_softmax", "alice")
    # RFC 2104 HMAC with SHA-256, computed by hand (ipad/opad), as an independent oracle.
    key = secret.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(k ^ 0x36 for k in key) + b"mnistlab grading seed v1\0a2_relu_softmax\0alice").digest()
    assert seed == hashlib.sha256(bytes(k ^ 0x5C for k in key) + inner).hexdigest()
    assert seed == cs.grading_seed(secret, "a2_relu_softmax", "alice")
    others = {cs.grading_seed(secret, "a2_relu_softmax", "bob"), cs.grading_seed(secret, "a1_data", "alice"),
              cs.grading_seed(bytes(32), "a2_relu_softmax", "alice"),
              cs.grading_seed(secret, "a2_relu_softmax\0alice", "")}
    assert seed not in others and len(others) == 4
    assert hidden_draws.valid_seed(seed) == seed
    with pytest.raises(cs.SecretError):
        cs.grading_seed(b"short", "a2_relu_softmax", "alice")
    assert hmac.compare_digest(seed, cs.grading_seed(secret, "a2_relu_softmax", "alice"))


def test_case_seeds_depend_on_seed_and_function():
    seed = "ab" * 32
    digest = hashlib.sha256(f"mnistlab hidden cases v1\0{seed}\0relu".encode()).digest()
    assert hidden_draws.case_seed(seed, "relu") == int.from_bytes(digest, "big")
    assert hidden_draws.case_seed(seed, "sigmoid") != hidden_draws.case_seed(seed, "relu")
    with hidden_draws.grading_seed(seed):
        one = [g.standard_normal(3).tolist() for g in hidden_draws.case_rngs("relu")]
        again = [g.standard_normal(3).tolist() for g in hidden_draws.case_rngs("relu")]
    assert one == again and len({tuple(v) for v in one}) == hidden_draws.RANDOM_CASES
    home = [g.standard_normal(3).tolist() for g in hidden_draws.case_rngs("relu")]
    assert hidden_draws.current_seed() is None and home != one
    with pytest.raises(ValueError, match="64 lower-case hexadecimal digits"):
        with hidden_draws.grading_seed("1234"):
            pass


def _import_checks_with(seed: str) -> subprocess.CompletedProcess:
    code = ("import json, os\nfrom mnistlab.checks import hidden_draws\n"
            "print(json.dumps([hidden_draws.current_seed(), os.environ.get(hidden_draws.SEED_ENV)]))\n")
    env = {**os.environ, hidden_draws.SEED_ENV: seed}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_the_kernel_takes_the_seed_from_its_environment_and_removes_it():
    seed = "cd" * 32
    done = _import_checks_with(seed)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [seed, None]
    bad = _import_checks_with("not-a-seed")
    assert bad.returncode != 0 and "64 lower-case hexadecimal digits" in bad.stderr


def test_secret_command(tmp_path, capsys):
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    assert cli.main(["secret", "--course", str(tmp_path)]) == 0
    assert "created the course secret" in capsys.readouterr().out
    secret = (tmp_path / cs.SECRET_FILE).read_text()
    assert cli.main(["secret", "--course", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "exists (kept as it is)" in out and secret.strip() not in out
    assert (tmp_path / cs.SECRET_FILE).read_text() == secret
    (tmp_path / cs.SECRET_FILE).write_text("garbage\n")
    assert cli.main(["secret", "--course", str(tmp_path)]) == 1
    assert "not 64 lower-case hexadecimal digits" in capsys.readouterr().err


def test_the_secret_is_ignored_by_git():
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(["git", "check-ignore", "-q", "assignments/.mnistlab-secret"], cwd=repo)
    assert done.returncode == 0
