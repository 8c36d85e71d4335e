"""The VirtFusion control server's SSH: a private OpenSSH ``sshd`` on 127.0.0.1.

Everything lives under ``<state>/virtfusion/ssh/``: the host key (generated once), the lab's client
key pair for tests and the demo (``client_key``; its public half is the only authorized key), the
``known_hosts`` line for ``[127.0.0.1]:PORT``, ``sshd_config`` and the pid file. ``vfcli-ctrl`` is on
the PATH of every session through ``SetEnv PATH=...`` (a wrapper in ``<state>/virtfusion/bin``); every session's
``HOME`` is the empty ``<state>/virtfusion/ssh/home``, so no start-up file of this machine's user runs per command.

sshd runs in the foreground (``-D``) as a child of the lab with PR_SET_PDEATHSIG, so it dies with the
lab even when the lab is killed. Key material is never logged or printed.
"""
import getpass
import logging
import os
import shlex
import socket
import subprocess
import sys
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from lab.tls import write_private_key

log = logging.getLogger("lab.virtfusion.sshd")

SSHD = "/usr/sbin/sshd"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class SshdError(Exception):
    pass


def _public_line(path):
    with open(path, "rb") as fh:
        key = serialization.load_ssh_private_key(fh.read(), password=None)
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).decode()


def _ensure_key(path):
    if not os.path.exists(path):
        write_private_key(path, ed25519.Ed25519PrivateKey.generate(), serialization.PrivateFormat.OpenSSH)
    return _public_line(path)


class Sshd:
    def __init__(self, state_dir, port, spawner, cli_config):
        self.dir = os.path.join(state_dir, "ssh")
        self.bin_dir = os.path.join(state_dir, "bin")
        self.port = int(port)
        self.spawner = spawner
        self.cli_config = cli_config
        self.user = getpass.getuser()
        self.host_key = os.path.join(self.dir, "ssh_host_ed25519_key")
        self.client_key = os.path.join(self.dir, "client_key")
        self.known_hosts = os.path.join(self.dir, "known_hosts")
        self.authorized_keys = os.path.join(self.dir, "authorized_keys")
        self.config = os.path.join(self.dir, "sshd_config")
        self.pid_file = os.path.join(self.dir, "sshd.pid")
        self.log_file = os.path.join(self.dir, "sshd.log")
        self.proc = None

    # ------------------------------------------------------------------ files
    def prepare(self):
        if not os.path.exists(SSHD):
            raise SshdError(f"the VirtFusion plane needs OpenSSH's sshd ({SSHD}), which is in the Debian package "
                            "openssh-server. Install with `apt-get install -y openssh-server` (or `bash "
                            "scripts/system-packages.sh`; `make test` runs it)")
        if not os.path.isdir("/run/sshd"):  # sshd's privilege-separation directory
            try:
                os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
            except OSError as e:
                raise SshdError(f"sshd needs the directory /run/sshd and it cannot be created ({e}); "
                                "create it as root: mkdir -p /run/sshd") from None
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        os.makedirs(self.bin_dir, exist_ok=True)
        host_pub = _ensure_key(self.host_key)
        client_pub = _ensure_key(self.client_key)
        with open(self.authorized_keys, "w", encoding="utf-8") as fh:
            fh.write(client_pub + " fleetops-lab-client\n")
        host_type, host_b64 = host_pub.split()[:2]
        with open(self.known_hosts, "w", encoding="utf-8") as fh:
            fh.write(f"[127.0.0.1]:{self.port} {host_type} {host_b64}\n")
        wrapper = os.path.join(self.bin_dir, "vfcli-ctrl")
        with open(wrapper, "w", encoding="utf-8") as fh:
            fh.write("#!/bin/sh\n# vfcli-ctrl of the lab's VirtFusion control server (generated; see "
                     "lab/virtfusion/vfcli.py)\n"
                     f"PYTHONPATH={shlex.quote(REPO)} exec {shlex.quote(sys.executable)} -S -m lab.virtfusion.vfcli "
                     f"--config {shlex.quote(self.cli_config)} \"$@\"\n")
        os.chmod(wrapper, 0o755)
        path = f"{self.bin_dir}:/usr/local/bin:/usr/bin:/bin"
        # the sessions' HOME: an empty directory of the lab's, so the shell that runs each command (bash, which
        # reads ~/.bashrc when started by sshd) does not run this machine's start-up files (here a pyenv set-up
        # costing ~0.15 s of CPU per command, which a lean control server does not have) [lab assumption]
        home = os.path.join(os.path.dirname(self.config), "home")
        os.makedirs(home, exist_ok=True)
        with open(self.config, "w", encoding="utf-8") as fh:
            fh.write("\n".join([
                "# the lab's VirtFusion control server (generated by lab/virtfusion/sshd.py)",
                f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {self.host_key}", f"PidFile {self.pid_file}",
                f"AuthorizedKeysFile {self.authorized_keys}", f"AllowUsers {self.user}",
                "PermitRootLogin prohibit-password", "PubkeyAuthentication yes", "PasswordAuthentication no",
                "KbdInteractiveAuthentication no", "PermitEmptyPasswords no", "UsePAM no", "StrictModes no",
                "PrintMotd no", "PrintLastLog no", "X11Forwarding no", "AllowTcpForwarding no",
                "AllowAgentForwarding no", "PermitTunnel no", "MaxStartups 100:30:200", "MaxSessions 50",
                "LoginGraceTime 30", f"SetEnv PATH={path} HOME={home}", "LogLevel INFO", ""]))
        p = subprocess.run([SSHD, "-t", "-f", self.config], capture_output=True, text=True, check=False, timeout=30)
        if p.returncode != 0:
            raise SshdError(f"sshd rejected its configuration: {p.stderr.strip()}")

    # ------------------------------------------------------------------ process
    BIND_TRIES = 3      # starts tried when the port the lab picked was taken before sshd bound it (see start)

    def start(self, timeout=10.0, new_port=None):
        """Start sshd. With ``new_port`` (the port was picked free, not configured), a port another process took
        between the pick and sshd's bind is replaced by ``new_port()``, at most BIND_TRIES times."""
        for attempt in range(1, self.BIND_TRIES + 1):
            logged = os.path.getsize(self.log_file) if os.path.exists(self.log_file) else 0
            try:
                self._start_once(timeout)
                return
            except SshdError:
                if new_port is None or attempt == self.BIND_TRIES or not self._bind_failed(logged):
                    raise
                old, self.port = self.port, int(new_port())
                log.warning("sshd could not bind 127.0.0.1:%s (taken since it was picked); trying port %s", old,
                            self.port)

    def _bind_failed(self, logged):
        """Whether sshd's log, from offset ``logged`` on (this try), says the port was taken."""
        try:
            with open(self.log_file, "rb") as fh:
                fh.seek(logged)
                return b"Address already in use" in fh.read()
        except OSError:
            return False

    def _start_once(self, timeout):
        self.prepare()
        logf = open(self.log_file, "ab")  # noqa: SIM115 - the child keeps it
        try:
            self.proc = self.spawner.popen([SSHD, "-D", "-e", "-f", self.config], stdout=logf, stderr=logf)
        finally:
            logf.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SshdError(f"sshd exited with status {self.proc.returncode}; see {self.log_file}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    if s.recv(64).startswith(b"SSH-"):
                        log.info("sshd listening on 127.0.0.1:%s (pid %s, user %s)", self.port, self.proc.pid,
                                 self.user)
                        return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise SshdError(f"sshd did not listen on 127.0.0.1:{self.port} within {timeout}s")

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def session_pids(self):
        """Per-connection sshd processes (children of the listener)."""
        out = []
        if not self.running():
            return out
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat", encoding="utf-8") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == self.proc.pid:
                out.append(int(d))
        return out

    def kill_sessions(self):
        """Drop every SSH connection now (fault injection); the listener keeps running."""
        pids = self.session_pids()
        for pid in pids:
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                pass
        log.info("fault: dropped %d SSH session(s)", len(pids))
        return len(pids)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            for pid in self.session_pids():
                try:
                    os.kill(pid, 15)
                except ProcessLookupError:
                    pass
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def info(self):
        return {"host": "127.0.0.1", "port": self.port, "user": self.user, "known_hosts": self.known_hosts,
                "private_key": self.client_key}
