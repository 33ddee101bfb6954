#!/usr/bin/env python3
"""Run a command against a throwaway PostgreSQL server on loopback, then remove the server.

    python scripts/with_postgres.py -- pytest -x

PostgreSQL refuses to run as root: as root the server runs as the ``postgres`` user (created if it
is missing), otherwise as the current user. The command gets ``DATABASE_URL`` pointing at the
server; the exit code is the command's.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile


def find_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if candidates:
        return candidates[0]
    sys.exit(f"{name} not found: install PostgreSQL (Debian: apt-get install postgresql).")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_user(user: str | None, cmd: list[str]) -> list[str]:
    return ["runuser", "-u", user, "--", *cmd] if user else cmd


def main() -> int:
    args = sys.argv[1:]
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        sys.exit(__doc__)

    user = None
    if os.geteuid() == 0:
        user = "postgres"
        try:
            pwd.getpwnam(user)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", user], check=True)
    tmp = tempfile.mkdtemp(prefix="dentcom-pg-")
    if user:
        shutil.chown(tmp, user, user)
    os.chmod(tmp, 0o700)
    data, log = os.path.join(tmp, "data"), os.path.join(tmp, "log")
    port = int(os.environ.get("PGTEST_PORT") or free_port())
    pg_ctl = find_bin("pg_ctl")
    subprocess.run(
        as_user(user, [find_bin("initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                       "--locale=C.UTF-8"]),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    opts = f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off " \
           "-c full_page_writes=off -c max_connections=200"
    subprocess.run(as_user(user, [pg_ctl, "-D", data, "-l", log, "-w", "-o", opts, "start"]), check=True,
                   stdout=subprocess.DEVNULL)
    env = dict(os.environ, DATABASE_URL=f"postgres://postgres@127.0.0.1:{port}/postgres", PGTEST_PORT=str(port))
    print(f"PostgreSQL started on 127.0.0.1:{port} ({tmp})", flush=True)
    try:
        return subprocess.call(args, env=env)
    except KeyboardInterrupt:
        return 130
    finally:
        subprocess.run(as_user(user, [pg_ctl, "-D", data, "-m", "immediate", "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
