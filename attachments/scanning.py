"""The virus scan: a real ClamAV daemon (Debian's clamav-daemon), asked over its Unix socket.

On when STAGEFLOW["FILES_CLAMD_SOCKET"] names the socket (clamd's `LocalSocket`). The content is
streamed with clamd's INSTREAM command (the protocol is four commands and a length-prefixed
stream; the PyPI clients for it are unmaintained, so Stageflow speaks it itself). A daemon that
does not answer is an error, never a clean result: the upload is refused and can be tried again.
"""
import socket
import struct
from dataclasses import dataclass

from django.conf import settings

CHUNK = 64 * 1024


class ScannerUnavailable(Exception):
    """clamd could not be reached or gave no usable answer."""


@dataclass(frozen=True)
class ScanResult:
    infected: bool
    signature: str = ""


def scanner_socket() -> str:
    return settings.STAGEFLOW.get("FILES_CLAMD_SOCKET", "")


def scanning_enabled() -> bool:
    return bool(scanner_socket())


def _connect(path: str, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except OSError as error:
        sock.close()
        raise ScannerUnavailable(str(error)) from error
    return sock


def _reply(sock: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\0"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.rstrip(b"\0").decode(errors="replace").strip()


def ping(path: str | None = None, timeout: float = 2.0) -> bool:
    try:
        with _connect(path or scanner_socket(), timeout) as sock:
            sock.sendall(b"zPING\0")
            return _reply(sock) == "PONG"
    except (ScannerUnavailable, OSError):
        return False


def scan_stream(stream, *, path: str | None = None) -> ScanResult:
    """Scan what `stream` (a binary file object, read from where it stands) holds."""
    timeout = float(settings.STAGEFLOW.get("FILES_CLAMD_TIMEOUT", 60))
    try:
        with _connect(path or scanner_socket(), timeout) as sock:
            sock.sendall(b"zINSTREAM\0")
            while chunk := stream.read(CHUNK):
                sock.sendall(struct.pack("!L", len(chunk)) + chunk)
            sock.sendall(struct.pack("!L", 0))
            answer = _reply(sock)
    except OSError as error:
        raise ScannerUnavailable(str(error)) from error
    # "stream: OK", "stream: Eicar-Test-Signature FOUND", or "... ERROR".
    if answer.endswith(" FOUND"):
        return ScanResult(infected=True, signature=answer.removeprefix("stream:").removesuffix(" FOUND").strip()[:200])
    if answer.endswith(" OK"):
        return ScanResult(infected=False)
    raise ScannerUnavailable(answer or "no answer")
