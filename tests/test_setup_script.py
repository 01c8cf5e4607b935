"""scripts/setup refuses a first install with a clear message when the disk cannot hold it,
instead of letting pip fail halfway with ENOSPC (CI once had too little disk)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _checkout(tmp_path: Path, free_kib: int) -> tuple[Path, dict[str, str]]:
    """A copy of scripts/setup in a tree whose venv's programs do nothing, and a `df` that
    reports ``free_kib`` KiB available."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "setup", tmp_path / "scripts" / "setup")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "src" / "pasar" / "models").mkdir(parents=True)
    (tmp_path / "src" / "pasar" / "models" / "embedded.py").write_text("")
    fake_bin = tmp_path / "fake-bin"
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    fake_bin.mkdir()
    for program in (tmp_path / ".venv" / "bin" / "python", tmp_path / ".venv" / "bin" / "pasar"):
        program.write_text("#!/bin/sh\nexit 0\n")
        program.chmod(0o755)
    df = fake_bin / "df"
    df.write_text(
        "#!/bin/sh\necho 'Filesystem 1024-blocks Used Available Capacity Mounted on'\n"
        f"echo '/dev/vda 263174212 23000000 {free_kib} 22% /'\n"
    )
    df.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}"}
    env.pop("PASAR_SETUP_NEED_GB", None)
    return tmp_path, env


def test_a_first_install_on_a_full_disk_stops_before_pip_and_says_what_to_free(tmp_path):
    root, env = _checkout(tmp_path, free_kib=1024 * 1024)  # 1 GB free
    result = subprocess.run(
        ["bash", str(root / "scripts" / "setup")], env=env, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "needs about 8 GB free" in result.stderr
    assert "1 GB is free" in result.stderr
    assert "run scripts/setup again" in result.stderr
    assert not (root / ".venv" / ".pasar-setup").exists()


def test_a_first_install_with_room_goes_on(tmp_path):
    root, env = _checkout(tmp_path, free_kib=80 * 1024 * 1024)
    result = subprocess.run(
        ["bash", str(root / "scripts" / "setup")], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert (root / ".venv" / ".pasar-setup").read_text().strip()
