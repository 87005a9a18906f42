"""Real mail and calendar servers for tests: Debian's Dovecot (IMAP), aiosmtpd (SMTP) and Radicale
(CalDAV), each started in a throw-away directory on a free port and stopped afterwards.

Dovecot comes from Debian's `dovecot-imapd` package (.ci/run installs it); where it is missing, or
where the tests do not run as root (Dovecot drops privileges to its own users), the tests that
need it are skipped with that reason. aiosmtpd and Radicale are pinned Python packages.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, *, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def dovecot_missing() -> str:
    """Why Dovecot cannot run here, or "" when it can."""
    if not shutil.which("dovecot") or not shutil.which("doveadm"):
        return "Dovecot is not installed (apt-get install dovecot-imapd; .ci/run installs it)"
    if os.geteuid() != 0:
        return "Dovecot drops privileges to its own users and must be started as root"
    return ""


DOVECOT_CONF = """\
protocols = imap
listen = 127.0.0.1
base_dir = {dir}/run
state_dir = {dir}/run
log_path = {dir}/log/dovecot.log
info_log_path = {dir}/log/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:{dir}/mail/%u
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
first_valid_uid = 1
first_valid_gid = 1
protocol imap {{
  mail_max_userip_connections = 50
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
namespace inbox {{
  inbox = yes
  mailbox Sent {{
    special_use = \\Sent
    auto = create
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/users/%u
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={dir}/mail/%u
}}
"""


@dataclass
class Dovecot:
    """One Dovecot, serving IMAP on 127.0.0.1:`port` for the users added with `add_user`."""

    dir: Path
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"

    @property
    def conf(self) -> Path:
        return self.dir / "dovecot.conf"

    def write_config(self) -> None:
        for sub in ("run", "log", "mail"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        shutil.chown(self.dir / "mail", "dovecot", "dovecot")
        # One passwd-file per user: Dovecot opens each user's own file, so a user added while it
        # runs is known at once (a shared file is re-read only when its mtime's second changes).
        (self.dir / "users").mkdir(exist_ok=True)
        self.conf.write_text(DOVECOT_CONF.format(dir=self.dir, port=self.port))

    def start(self) -> None:
        # Dovecot daemonises; its output goes nowhere (a pipe would stay open as long as it runs).
        subprocess.run(["dovecot", "-c", str(self.conf)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True)
        if not _wait_for_port(self.port):
            raise RuntimeError(f"Dovecot did not answer on port {self.port}: {self.log()}")

    def stop(self) -> None:
        subprocess.run(["doveadm", "-c", str(self.conf), "stop"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (self.dir / "run" / "master.pid").exists():
            time.sleep(0.05)

    def crash(self) -> None:
        """The server disappears at once: its master and every process it started are killed (a
        plain stop would let open IMAP sessions finish)."""
        pid_file = self.dir / "run" / "master.pid"
        master = int(pid_file.read_text().split()[0])
        children = [master]
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == master:
                    children.append(int(entry.name))
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        pid_file.unlink(missing_ok=True)

    def log(self) -> str:
        path = self.dir / "log" / "dovecot.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def add_user(self, username: str | None = None, password: str = "secret") -> tuple[str, str]:
        username = username or f"rep-{uuid.uuid4().hex[:10]}@example.test"
        (self.dir / "users" / username).write_text(f"{username}:{{PLAIN}}{password}\n")
        return username, password


def start_dovecot() -> Dovecot:
    server = Dovecot(dir=Path(tempfile.mkdtemp(prefix="stageflow-dovecot-")))
    server.write_config()
    server.start()
    return server


def remove_dovecot(server: Dovecot) -> None:
    server.stop()
    shutil.rmtree(server.dir, ignore_errors=True)


class RecordingHandler:
    """aiosmtpd handler that keeps every message it accepts, with its envelope."""

    def __init__(self):
        self.messages: list[dict] = []
        self.received = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.messages.append({
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "data": envelope.original_content or envelope.content,
            "login": getattr(session, "login_data", None),
        })
        self.received.set()
        return "250 Message accepted for delivery"


@dataclass
class Smtp:
    host: str
    port: int
    handler: RecordingHandler
    username: str = "rep@example.test"
    password: str = "secret"


def start_smtp():
    """aiosmtpd on a free port, asking for a login (AUTH PLAIN/LOGIN without TLS, as a test server may)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    handler = RecordingHandler()
    server = Smtp(host="127.0.0.1", port=free_port(), handler=handler)

    def authenticator(smtp, session, envelope, mechanism, auth_data):
        ok = auth_data.login.decode() == server.username and auth_data.password.decode() == server.password
        return AuthResult(success=ok, handled=False)

    with warnings.catch_warnings():
        # A login without TLS is what a local test server offers; aiosmtpd warns about it.
        warnings.simplefilter("ignore", UserWarning)
        controller = Controller(
            handler, hostname=server.host, port=server.port, authenticator=authenticator,
            auth_required=True, auth_require_tls=False,
        )
        controller.start()
    return server, controller


@dataclass
class Radicale:
    url: str
    dir: Path
    process: subprocess.Popen


def start_radicale() -> Radicale:
    """Radicale on a free port with a filesystem store in a temporary folder and no authentication."""
    folder = Path(tempfile.mkdtemp(prefix="stageflow-radicale-"))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "radicale", "--server-hosts", f"127.0.0.1:{port}",
         "--storage-filesystem-folder", str(folder / "collections"), "--auth-type", "none",
         "--rights-type", "owner_only", "--logging-level", "warning"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(folder / "radicale.log", "wb"),
    )
    if not _wait_for_port(port):
        process.kill()
        raise RuntimeError("Radicale did not answer: " + (folder / "radicale.log").read_text(errors="replace"))
    return Radicale(url=f"http://127.0.0.1:{port}/", dir=folder, process=process)


def stop_radicale(server: Radicale) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
    shutil.rmtree(server.dir, ignore_errors=True)
