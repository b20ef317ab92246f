"""A real PgBouncer in transaction pooling, started by a test in front of the test
database's PostgreSQL (Debian's ``pgbouncer`` package; ``.ci/run`` installs it)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from tests.conftest import need
from tests.waiting import wait_until

CONFIG = """\
[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen_port}
unix_socket_dir =
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 200
auth_type = trust
auth_file = {auth_file}
ignore_startup_parameters = extra_float_digits,options
server_reset_query =
"""


def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer") or next(
        (path for path in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.path.exists(path)),
        None)


@contextmanager
def pgbouncer_running(*, host: str, port: int, user: str, dbname: str, pool_size: int = 10
                      ) -> Iterator[int]:
    """PgBouncer in transaction mode on a free port, passing every database through to
    ``host:port``; yields its port, stops it at the end."""
    binary = pgbouncer_binary()
    need(binary is not None, "PgBouncer is not installed (apt-get install pgbouncer; "
                             ".ci/run does)")
    with tempfile.TemporaryDirectory(prefix="pgbouncer-") as directory:
        os.chmod(directory, 0o755)  # read by the postgres user when started as root
        auth_file = Path(directory) / "users.txt"
        auth_file.write_text(f'"{user}" ""\n')
        listen_port = _free_port()
        config = Path(directory) / "pgbouncer.ini"
        config.write_text(CONFIG.format(host=host or "127.0.0.1", port=port,
                                        listen_port=listen_port, pool_size=pool_size,
                                        auth_file=auth_file))
        for path in (auth_file, config):
            path.chmod(0o644)
        # PgBouncer refuses to run as root; as root, it is told to become postgres.
        command = [binary, *(["-u", "postgres"] if os.geteuid() == 0 else []), str(config)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: process.poll() is not None or _answers(listen_port, user, dbname),
                       timeout=10, what="PgBouncer to accept connections")
            assert process.poll() is None, process.stdout.read().decode()
            yield listen_port
        finally:
            process.terminate()
            process.wait(timeout=10)


def _answers(port: int, user: str, dbname: str) -> bool:
    try:
        with psycopg.connect(host="127.0.0.1", port=port, user=user, dbname=dbname,
                             connect_timeout=2) as probe:
            probe.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def django_through_pgbouncer(*, pool_size: int = 10) -> Iterator[int]:
    """Every new connection of Django's default database (each thread's, and the order
    lock's) goes through a PgBouncer in transaction pooling until the end; yields its
    port."""
    from django.db import connection

    from payments.checkout.locks import order_lock_connection_close

    settings = connection.settings_dict  # the one dict every thread's connection reads
    need(connection.vendor == "postgresql",
         "PostgreSQL is not configured (set DATABASE_URL=postgres://…; .ci/run does)")
    direct = (settings["HOST"], settings["PORT"])
    with pgbouncer_running(host=settings["HOST"], port=int(settings["PORT"] or 5432),
                           user=settings["USER"], dbname=settings["NAME"],
                           pool_size=pool_size) as port:
        connection.close()
        order_lock_connection_close()
        settings["HOST"], settings["PORT"] = "127.0.0.1", port
        try:
            yield port
        finally:
            connection.close()
            order_lock_connection_close()
            settings["HOST"], settings["PORT"] = direct
