"""`skelforge --version` prints the installed package's version (importlib.metadata), through the real entry point."""
import subprocess
import sys
from importlib.metadata import version

from typer.testing import CliRunner

import dagfile
from pipeline.cli import app, set_dag

set_dag(dagfile.DAG)


def test_version_flag():
    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output == f"skelforge {version('skelforge')}\n"
    p = subprocess.run([sys.executable, "-c", "import sys, dagfile; sys.argv[0] = 'skelforge'; dagfile.main()",
                        "--version"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == f"skelforge {version('skelforge')}", p.stderr
