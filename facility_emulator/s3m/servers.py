"""Real message servers for the emulated S3M streaming clusters: Redis and RabbitMQ on loopback.

Each cluster is a private server the emulator starts as a child process, in a directory of its
own under the sandbox (``<root>/.s3m-streaming/<engine>-<name>-<id>``), on free loopback ports,
with a generated password, and stops when the cluster is deleted or expires and when the
emulator stops:

* **Redis**: Debian's ``redis-server`` (7.0), or ``valkey-server`` (the Redis fork newer Debian
  releases also ship) where there is no ``redis-server``, with a config file (0600) that binds 127.0.0.1,
  keeps nothing on disk (``save ""``, no append-only file), turns the ``default`` user off and
  defines the cluster's user with its password (Redis ACLs), as S3M's URLs carry a user name.
* **RabbitMQ**: Debian's ``rabbitmq-server`` (3.10), started through its inner script
  (``/usr/lib/rabbitmq/bin/rabbitmq-server``; Debian's outer one switches to the ``rabbitmq``
  user) as a node of its own: its own ``RABBITMQ_NODENAME``, ``RABBITMQ_MNESIA_BASE``, logs,
  config (0600: the cluster's user as the default user), Erlang cookie (``HOME``), AMQP port,
  Erlang distribution port bound to 127.0.0.1, and its own EPMD on a private port
  (``ERL_EPMD_PORT``), started here before the node so the node does not start a shared one.
  The management plugin serves the ``mgmtUrl``.

Every child runs in a session of its own (stopped as a group: SIGTERM, then SIGKILL after a
grace) and asks the kernel for SIGTERM should the thread that started it end
(``PR_SET_PDEATHSIG``), so a killed emulator leaves no server behind. :data:`STARTED` keeps the
``pgrep -f`` pattern of every server started by this process, for tests that check that none is
left.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, ClassVar

__all__ = [
    "MARKER",
    "STARTED",
    "RabbitMQServer",
    "RedisServer",
    "ServerStartError",
    "StreamingServer",
    "server_class",
]

HOST = "127.0.0.1"
MARKER = ".s3m-streaming"
"""The directory under the sandbox root that holds every cluster's files."""

STARTED: list[str] = []
"""``pgrep -f`` patterns of the servers this process started (each stays in the list)."""
_STARTED_LOCK = threading.Lock()

_PR_SET_PDEATHSIG = 1
_libc_name = ctypes.util.find_library("c")
_LIBC = ctypes.CDLL(_libc_name, use_errno=True) if _libc_name else None


class ServerStartError(Exception):
    """A server could not be started (missing program, early exit, no answer in time)."""


def _child_setup() -> None:  # runs in the child between fork and exec
    os.setsid()
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (held together while chosen)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            sockets.append(sock)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _program(name: str, *candidates: str) -> str | None:
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/lib/erlang/bin")


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _stop_group(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM to the process's session group, SIGKILL after ``grace`` seconds; then reap it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace)
    # Members of the group may outlive its leader (Erlang's port helpers): kill what is left.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)


class StreamingServer:
    """One private server: started in ``directory``, answering on loopback ports."""

    engine: ClassVar[str]
    program: ClassVar[str]
    stop_grace: ClassVar[float] = 10.0

    def __init__(self, directory: Path, username: str) -> None:
        self.directory = directory
        self.username = username
        self.password = secrets.token_urlsafe(18)
        self.ports: dict[str, int] = {}
        self._processes: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []
        self._lock = threading.Lock()
        self._stopped = False

    @classmethod
    def unavailable(cls) -> str | None:
        """Why this engine cannot run here (a missing program), or None."""
        raise NotImplementedError

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._processes]

    def url(self) -> str:
        """The connection URL, credentials included."""
        raise NotImplementedError

    def patterns(self) -> list[str]:
        """``pgrep -f`` patterns that find this server's processes."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Choose the ports and write the config files (fast: the URL is known from here on)."""
        raise NotImplementedError

    def launch(self, timeout: float) -> None:
        """Start the server's processes (from a thread that lives as long as they should: see the
        module's note on PR_SET_PDEATHSIG); ServerStartError if that fails."""
        raise NotImplementedError

    def wait_ready(self, timeout: float) -> None:
        """Return once the server answers; ServerStartError if it exits or stays silent."""
        raise NotImplementedError

    def start(self, timeout: float) -> None:
        """Launch the server and wait until it answers."""
        began = time.monotonic()
        self.launch(timeout)
        self.wait_ready(max(0.0, timeout - (time.monotonic() - began)))

    def _spawn(self, argv: list[str], env: dict[str, str], log_name: str) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._stopped:
                raise ServerStartError("the cluster was deleted while it started")
            log = open(self.directory / log_name, "ab")  # noqa: SIM115 - closed in stop()
            self._logs.append(log)
            process = subprocess.Popen(
                argv,
                cwd=self.directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_child_setup,  # setsid and prctl only: nothing that takes a lock
            )
            self._processes.append(process)
        return process

    def _last_process(self) -> subprocess.Popen[bytes]:
        with self._lock:
            if not self._processes:
                raise ServerStartError("the cluster was deleted while it started")
            return self._processes[-1]

    def _wait(self, probe: str, process: subprocess.Popen[bytes], port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServerStartError(
                    f"{self.program} exited with code {process.returncode} before answering "
                    f"(see {self.directory})"
                )
            if self._stopped:
                raise ServerStartError("the cluster was deleted while it started")
            if self._answers(probe, port):
                return
            time.sleep(0.05)
        raise ServerStartError(f"{self.program} did not answer on port {port} within {timeout:g} s")

    @staticmethod
    def _answers(probe: str, port: int) -> bool:
        try:
            with socket.create_connection((HOST, port), timeout=1.0) as sock:
                if probe == "tcp":
                    return True
                if probe == "redis":
                    sock.sendall(b"PING\r\n")
                    return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
                sock.sendall(b"AMQP\x00\x00\x09\x01")
                return sock.recv(1) == b"\x01"  # a method frame: Connection.Start
        except OSError:
            return False

    def stop(self) -> None:
        """Stop every process of the server (newest first) and close its logs. Idempotent."""
        with self._lock:
            self._stopped = True
            processes, self._processes = self._processes, []
            logs, self._logs = self._logs, []
        for process in reversed(processes):
            _stop_group(process, self.stop_grace)
        for log in logs:
            log.close()

    def _register(self) -> None:
        with _STARTED_LOCK:
            STARTED.extend(self.patterns())


class RedisServer(StreamingServer):
    """``redis-server`` with the cluster's user and password, nothing kept on disk."""

    engine = "redis"
    program = "redis-server"
    stop_grace = 5.0

    @staticmethod
    def _server_program() -> str | None:
        """Debian's ``redis-server``, else ``valkey-server`` (same configuration language)."""
        return _program("redis-server", "/usr/bin/redis-server") or _program(
            "valkey-server", "/usr/bin/valkey-server"
        )

    @classmethod
    def unavailable(cls) -> str | None:
        if cls._server_program() is None:
            return (
                "neither redis-server nor valkey-server is installed (Debian: apt-get install redis-server)"
            )
        return None

    def url(self) -> str:
        return f"redis://{self.username}:{self.password}@{HOST}:{self.ports['redis']}"

    def patterns(self) -> list[str]:
        # The process title carries the config file's path (``proc-title-template``).
        return [str(self.directory / "redis.conf")]

    def prepare(self) -> None:
        (port,) = free_ports(1)
        self.ports = {"redis": port}
        config = self.directory / "redis.conf"
        _write_private(
            config,
            "\n".join(
                [
                    f"bind {HOST}",
                    f"port {port}",
                    "protected-mode yes",
                    'save ""',
                    "appendonly no",
                    "daemonize no",
                    f"dir {self.directory}",
                    'logfile ""',
                    'proc-title-template "{title} {listen-addr} {config-file}"',
                    "user default off",
                    f"user {self.username} on >{self.password} ~* &* +@all",
                    "",
                ]
            ),
        )

    def launch(self, timeout: float) -> None:
        program = self._server_program()
        if program is None:
            raise ServerStartError(self.unavailable() or "redis-server is missing")
        if not self.ports:
            self.prepare()
        self._register()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.directory)}
        self._spawn([program, str(self.directory / "redis.conf")], env, "redis.log")

    def wait_ready(self, timeout: float) -> None:
        self._wait("redis", self._last_process(), self.ports["redis"], timeout)


class RabbitMQServer(StreamingServer):
    """A private RabbitMQ node with its own EPMD, the cluster's user as its default user."""

    engine = "rabbitmq"
    program = "rabbitmq-server"
    stop_grace = 20.0

    @staticmethod
    def _programs() -> tuple[str | None, str | None]:
        server = _program("rabbitmq-server", "/usr/lib/rabbitmq/bin/rabbitmq-server")
        epmd = _program("epmd", "/usr/bin/epmd", "/usr/lib/erlang/bin/epmd")
        return server, epmd

    @classmethod
    def unavailable(cls) -> str | None:
        server, epmd = cls._programs()
        if server is None or epmd is None:
            missing = "rabbitmq-server" if server is None else "epmd (Erlang)"
            return f"{missing} is not installed (Debian: apt-get install rabbitmq-server)"
        return None

    def url(self) -> str:
        return f"amqp://{self.username}:{self.password}@{HOST}:{self.ports['amqp']}"

    def management_url(self) -> str:
        return f"http://{HOST}:{self.ports['management']}"

    def patterns(self) -> list[str]:
        # The node's command line holds ``-home <directory>``; EPMD's its private port.
        return [f"-home {self.directory}", f"epmd -address {HOST} -port {self.ports['epmd']}"]

    def prepare(self) -> None:
        amqp, dist, epmd_port, management = free_ports(4)
        self.ports = {"amqp": amqp, "dist": dist, "epmd": epmd_port, "management": management}
        (self.directory / "enabled_plugins").write_text("[rabbitmq_management].\n")
        _write_private(
            self.directory / "rabbitmq.conf",
            "\n".join(
                [
                    f"listeners.tcp.1 = {HOST}:{amqp}",
                    f"management.tcp.ip = {HOST}",
                    f"management.tcp.port = {management}",
                    f"default_user = {self.username}",
                    f"default_pass = {self.password}",
                    "loopback_users = none",
                    "log.console = false",
                    "log.file.level = warning",
                    "",
                ]
            ),
        )

    def launch(self, timeout: float) -> None:
        server, epmd = self._programs()
        if server is None or epmd is None:
            raise ServerStartError(self.unavailable() or "rabbitmq-server is missing")
        if not self.ports:
            self.prepare()
        amqp, dist, epmd_port = self.ports["amqp"], self.ports["dist"], self.ports["epmd"]
        self._register()
        base = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/usr/lib/erlang/bin",
            "HOME": str(self.directory),
            "LANG": "C.UTF-8",
            "ERL_EPMD_PORT": str(epmd_port),
            "ERL_EPMD_ADDRESS": HOST,
        }
        epmd_process = self._spawn([epmd, "-address", HOST, "-port", str(epmd_port)], base, "epmd.log")
        self._wait("tcp", epmd_process, epmd_port, timeout)  # the node must find it, or starts its own
        node = f"s3m-{secrets.token_hex(4)}@localhost"
        env = {
            **base,
            "RABBITMQ_NODENAME": node,
            "RABBITMQ_NODE_IP_ADDRESS": HOST,
            "RABBITMQ_NODE_PORT": str(amqp),
            "RABBITMQ_DIST_PORT": str(dist),
            "RABBITMQ_MNESIA_BASE": str(self.directory / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.directory / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.directory / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.directory / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.directory / "enabled_plugins"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(self.directory / "plugins-expand"),
            "RABBITMQ_PID_FILE": str(self.directory / "rabbitmq.pid"),
            "RABBITMQ_CONF_ENV_FILE": str(self.directory / "rabbitmq-env.conf"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }
        self._spawn([server], env, "rabbitmq.log")

    def wait_ready(self, timeout: float) -> None:
        self._wait("amqp", self._last_process(), self.ports["amqp"], timeout)


_SERVERS: dict[str, type[StreamingServer]] = {"redis": RedisServer, "rabbitmq": RabbitMQServer}


def server_class(engine: str) -> type[StreamingServer]:
    """The server class of ``engine`` (``redis`` or ``rabbitmq``)."""
    return _SERVERS[engine]
