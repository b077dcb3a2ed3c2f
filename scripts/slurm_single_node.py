#!/usr/bin/env python3
"""A real single-node SLURM (munged, slurmctld, slurmd) in one folder, started and stopped without systemd.

    python scripts/slurm_single_node.py start DIR    # prints `export SLURM_CONF=DIR/slurm.conf`
    python scripts/slurm_single_node.py stop DIR     # stops the three daemons by the PIDs recorded in DIR

Needs root and Debian's `munge slurmctld slurmd slurm-client` packages (`make slurm` installs them). Everything
lives under DIR: a fresh munge key and socket (munged runs as the `munge` user, so DIR must be traversable by it;
`start` makes DIR mode 0755), slurm.conf with free ports, state, spool, logs and PID files. Nothing in /etc or
/run is touched, so it runs beside another SLURM or munge. Processes that call sbatch/squeue need
`SLURM_CONF=DIR/slurm.conf` in their environment.

Settings this kind of machine needs (measured): proctrack/linuxproc, task/none and jobacct_gather/none (the
cgroup plugins fail without systemd's cgroup tree), `RealMemory` on the node line (else `--mem` requests are
rejected), `NodeName` = `hostname -s`. `start` returns once the node is idle (sinfo) or fails with the daemons'
log tails; `stop` is safe to call on a partly started folder.
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

DAEMONS = ("slurmd", "slurmctld", "munged")       # stop order
START_TIMEOUT = 60.0


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _mem_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


def slurm_conf(d: Path, host: str, ctld_port: int, slurmd_port: int) -> str:
    cpus = os.cpu_count() or 1
    mem = max(256, _mem_mb() * 9 // 10)
    return f"""# written by scripts/slurm_single_node.py
ClusterName=skelforge-test
SlurmctldHost={host}
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={d}/munge/munge.socket
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool/%n
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
NodeName={host} CPUs={cpus} RealMemory={mem} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _run(cmd: list[str], env: dict | None = None) -> None:
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {(r.stderr or r.stdout).strip()}")


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def start(d: Path) -> None:
    if os.geteuid() != 0:
        raise RuntimeError("needs root (slurmd runs jobs as their submitter; munged needs the munge user)")
    for exe in ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "sinfo"):
        if shutil.which(exe) is None and not Path("/usr/sbin", exe).exists():
            raise RuntimeError(f"{exe} is not installed (Debian: apt-get install munge slurmctld slurmd slurm-client)")
    munge_user = pwd.getpwnam("munge")
    d = d.resolve()
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(0o755)
    closed = [p for p in d.parents if not p.stat().st_mode & 0o001]
    if closed:
        raise RuntimeError(f"munged runs as the munge user and must reach {d}, but {closed[0]} is not searchable "
                           "by others (chmod o+x it, or use a folder elsewhere)")
    for sub in ("state", "spool", "log"):
        (d / sub).mkdir(exist_ok=True)
    m = d / "munge"
    m.mkdir(exist_ok=True)
    key = m / "munge.key"
    if not key.exists():
        _run(["mungekey", "--create", "--keyfile", str(key), "--force"])
    for p in (m, key):
        os.chown(p, munge_user.pw_uid, munge_user.pw_gid)
    m.chmod(0o711)                     # munged wants its socket's folder searchable by all (clients connect)
    key.chmod(0o600)
    _run(["runuser", "-u", "munge", "--", "munged", "--socket", str(m / "munge.socket"),
          "--key-file", str(key), "--pid-file", str(m / "munged.pid"), "--log-file", str(m / "munged.log"),
          "--seed-file", str(m / "munged.seed")])
    host = socket.gethostname().split(".")[0]
    ctld_port, slurmd_port = _free_ports(2)
    conf = d / "slurm.conf"
    conf.write_text(slurm_conf(d, host, ctld_port, slurmd_port))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    _run(["slurmctld", "-f", str(conf)], env)
    _run(["slurmd", "-f", str(conf)], env)
    deadline = time.monotonic() + START_TIMEOUT
    state = ""
    while time.monotonic() < deadline:
        r = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], env=env, capture_output=True, text=True)
        state = (r.stdout or r.stderr).strip()
        if r.returncode == 0 and state in ("idle", "mix", "alloc"):
            print(f"export SLURM_CONF={conf}")
            return
        time.sleep(0.5)
    raise RuntimeError(f"the node did not come up in {START_TIMEOUT:g} s (sinfo: {state!r})\n"
                       f"slurmctld.log:\n{_tail(d / 'log/slurmctld.log')}\nslurmd.log:\n{_tail(d / 'log/slurmd.log')}")


def _pid_file(d: Path, name: str) -> Path:
    return d / "munge" / "munged.pid" if name == "munged" else d / f"{name}.pid"


def stop(d: Path) -> None:
    """SIGTERM each daemon by its PID file (then SIGKILL after 10 s); missing ones are skipped."""
    for name in DAEMONS:
        pid_file = _pid_file(d, name)
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    action, d = argv[0], Path(argv[1])
    try:
        {"start": start, "stop": stop}[action](d)
    except RuntimeError as e:
        print(f"slurm_single_node {action}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
