"""serve: the HTTP API and web page over one collection."""

from __future__ import annotations

from pathlib import Path

import typer

from jointspace.cli.app import app, console, run_safely


@app.command()
def serve(
    collection: str = typer.Argument(..., help="collection: a directory, a sharded directory or a postgresql:// URL"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (loopback by default)"),
    port: int = typer.Option(8000, "--port", min=0, max=65535),
    token_file: Path = typer.Option(None, "--token-file", help="file holding the bearer token that allows writes; "
                                                               "without it the server is read-only"),
    media_dir: Path = typer.Option(None, "--media", help="folder item files are served from (default: DIR/media)"),
    allow_host: list[str] = typer.Option(None, "--allow-host", help="extra Host name to answer to ('*' = any)"),
    max_k: int = typer.Option(100, "--max-k", min=1, max=10_000, help="largest k a request may ask for"),
    max_upload_mb: float = typer.Option(25.0, "--max-upload-mb", min=0.01, help="largest request body (MiB)"),
    timeout: float = typer.Option(30.0, "--timeout", min=0.1, help="seconds a request may take"),
    classifier: Path = typer.Option(None, "--classifier", help="classifier model folder: enables /classify"),
    nearest: Path = typer.Option(None, "--nearest", help="nearest-examples model folder: enables /nearest"),
    log_level: str = typer.Option("info", "--log-level"),
    cors: list[str] = typer.Option(None, "--cors", help="an origin (scheme://host[:port]) whose pages may call the "
                                                       "API from a browser; repeat for more (default: CORS off)"),
) -> None:
    """Serve a collection over HTTP: the API (same names as Python) and a search page at /."""
    from jointspace.server import ServerSettings, create_app, load_token, serve
    from jointspace.server.routers.tasks import load_model
    from jointspace.server.settings import LOOPBACK_HOSTS

    def body() -> None:
        token = load_token(token_file) if token_file else None
        hosts = (*LOOPBACK_HOSTS, *(allow_host or []))
        if host not in LOOPBACK_HOSTS and host not in ("0.0.0.0", "::"):
            hosts = (*hosts, host)
        settings = ServerSettings(token=token, max_k=max_k, max_upload_bytes=int(max_upload_mb * 2**20),
                                  request_timeout=timeout, media_dir=media_dir.resolve() if media_dir else None,
                                  allowed_hosts=hosts, cors_origins=tuple(cors or ()))
        models = {kind: load_model(kind, path) for kind, path in (("classify", classifier), ("nearest", nearest))
                  if path is not None}
        application = create_app(collection, settings, models=models)
        mode = "read-write (bearer token)" if token else "read-only (no --token-file)"
        from jointspace.stores.postgres import redact

        console.print(f"serving [bold]{redact(collection)}[/bold] at http://{host}:{port}/ — {mode}")
        serve(application, host=host, port=port, log_level=log_level)

    run_safely(body)
