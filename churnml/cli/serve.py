"""`churnml serve` (the API and CSM web page) and `churnml apikey new|hash` (keys as salted hashes).

Thin: parse, build the app with `serving.app.create_app`, run uvicorn. Registered by `churnml.cli.app`. A
configuration that cannot be served (no keys and anonymous access not allowed) is one red line, exit 1.
"""

from __future__ import annotations

import logging
import os
from typing import Annotated, Literal

import typer
from rich.console import Console

from churnml.cli.errors import choice, user_errors
from churnml.cli.help import Group
from churnml.cli.options import ConfigOpt

console = Console()



def serve_command(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default serving.host, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(min=0, max=65535, help="Port (default serving.port).")] = None,
    alias: Annotated[str | None, typer.Option(help="Registry alias to serve and follow (default serving.alias).")]
    = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    workers: Annotated[int | None, typer.Option(min=1, max=64, help="Worker processes (default serving.workers, "
                                                "else the CPU cores).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Serve the API (/v1, /metrics, /healthz, /readyz, /docs) and the CSM web page (/) with uvicorn."""
    # One OpenMP thread per prediction, set before LightGBM loads: a single account gains nothing from threads
    # and, with concurrent requests on few cores, OpenMP's spin-waiting threads multiplied latency by ~30.
    # Concurrency comes from uvicorn's thread pool instead. An explicit OMP_NUM_THREADS is respected.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from churnml.config import load_settings

    with user_errors():
        settings = load_settings(config)
        if alias:
            settings.serving.alias = alias
        if workers:
            settings.serving.workers = workers
        cfg = settings.serving
        h, p = host or cfg.host, cfg.port if port is None else port
        check_port(h, p)  # in a second: before the web stack is imported and the model loads
    import uvicorn

    from serving.app import SETTINGS_ENV, create_app
    from serving.app import workers as worker_count

    with user_errors():
        app = create_app(settings)  # also checks the configuration before any worker starts
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    n = worker_count(cfg)
    console.print(f"serving {settings.registry.name}@{cfg.alias} on http://{h}:{p} with {n} worker(s) "
                  f"({len(cfg.api_keys)} API key(s); web page at /, API docs at /docs)", highlight=False)
    if n == 1:
        uvicorn.run(app, host=h, port=p, log_level=log_level, access_log=False)
        return
    # worker processes build their own app (own model holder, own alias check) from the same settings
    os.environ[SETTINGS_ENV] = settings.model_dump_json()
    uvicorn.run("serving.app:app_from_env", factory=True, workers=n, host=h, port=p, log_level=log_level,
                access_log=False)


def check_port(host: str, port: int) -> None:
    """Fail at once when `host:port` cannot be bound (another server listens there), instead of after the model
    has loaded. The probe binds as uvicorn does (SO_REUSEADDR: a port left in TIME_WAIT is free) and lets go.

    Raises:
        ValueError: the address is in use or cannot be bound; the message names it and what to change.
    """
    import socket

    if port == 0:
        return  # the system picks a free port
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise ValueError(f"cannot serve on {host}:{port}: the host does not resolve ({exc.strerror}).") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            why = "is already in use (another server listens there)" if exc.errno in (98, 48, 10048) \
                else f"cannot be bound ({exc.strerror})"
            raise ValueError(f"port {port} on {host} {why}: stop that server or choose another port with --port "
                             "or serving.port.") from None


apikey_app = typer.Typer(name="apikey", help="API keys for `churnml serve`: stored only as salted hashes.",
                         no_args_is_help=True, rich_markup_mode=None, cls=Group)


@apikey_app.command("new")
def apikey_new(
    name: Annotated[str, typer.Option(help="Who will hold the key (shown in logs).")],
    role: Annotated[str, typer.Option(help="read (GET routes, web page), write (also record plays done) or "
                                      "score (also POST /v1/score).")] = "read",
) -> None:
    """Create a random key; print it once, and the config entry holding only its hash."""
    from serving.auth import ROLES, hash_key, new_key

    choice(role, list(ROLES), "--role")
    key = new_key()
    _print_entry(name, role, hash_key(key), key)


@apikey_app.command("hash")
def apikey_hash(
    name: Annotated[str, typer.Option(help="Who holds the key.")] = "client",
    role: Annotated[str, typer.Option(help="read, write or score.")] = "read",
    key: Annotated[str | None, typer.Option(help="The key (default: asked for, hidden).", envvar="CHURNML_API_KEY")]
    = None,
) -> None:
    """Hash an existing key for serving.api_keys (the key itself is never stored)."""
    from serving.auth import ROLES, hash_key

    choice(role, list(ROLES), "--role")
    key = key or typer.prompt("API key", hide_input=True)
    with user_errors():
        _print_entry(name, role, hash_key(key), None)


def _print_entry(name: str, role: Literal["read", "write", "score"] | str, hashed: str, key: str | None) -> None:
    if key:
        console.print(f"key (shown once; give it to {name}): {key}", highlight=False, soft_wrap=True)
    console.print("add to configs/<yours>.yaml under serving.api_keys:", highlight=False)
    console.print(f'  - {{name: "{name}", role: {role}, hash: "{hashed}"}}', highlight=False, soft_wrap=True)
