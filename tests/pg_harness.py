"""Start and stop a throw-away PostgreSQL server (Debian's ``postgresql`` package) for tests and benchmarks.

``initdb`` refuses to run as root, so as root the server runs as the ``postgres`` user from a
temporary folder it owns. The server listens on 127.0.0.1 only and is stopped with its own
``pg_ctl stop``.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time


def _bindir():
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
    if dirs and os.path.exists(os.path.join(dirs[-1], "initdb")):
        return dirs[-1]
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """``with PostgresServer() as pg: pg.url`` (a SQLAlchemy URL); ``pg.create_database(name)``."""

    def __init__(self):
        self.bindir = _bindir()
        if self.bindir is None:
            raise RuntimeError("PostgreSQL is not installed (no initdb under /usr/lib/postgresql/*/bin or on PATH)")
        self.as_root = os.geteuid() == 0
        self.root = tempfile.mkdtemp(prefix="al-pg-")
        self.data = os.path.join(self.root, "data")
        self.port = _free_port()
        self.user = "postgres"

    def _run(self, *args, check=True):
        cmd = [os.path.join(self.bindir, args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=120)

    def start(self):
        if self.as_root:
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        os.chmod(self.root, 0o700)
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", self.user, "--no-sync", "-E", "UTF8")
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200"
        self._run("pg_ctl", "-D", self.data, "-o", opts, "-l", os.path.join(self.root, "log"), "-w", "-t", "60",
                  "start")
        self.url = f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/postgres"
        return self

    def restart(self):
        self.stop(remove=False)
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200"
        self._run("pg_ctl", "-D", self.data, "-o", opts, "-l", os.path.join(self.root, "log"), "-w", "start")

    def stop(self, remove=True):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop", check=False)
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name):
        import sqlalchemy as sa

        engine = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{name}"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def wait_until_down(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return True
        time.sleep(0.1)
    return False
