"""Serve the web app: ``python -m nstyle.web [--host H] [--port P] [--gpu N]``.

The device is chosen and checked as the command line does (``--gpu``), before the server
listens; a mistake is one line, ``nstyle.web: error: ...``, and exit code 2. The first
line on standard output is the address, e.g. ``nstyle.web: serving on
http://127.0.0.1:8000`` (with ``--port 0`` the system picks a free port); it listens from
then on. Ctrl-C or SIGTERM stops it as the command line stops: an upload being read gets
503, the running job is cancelled, the working folder is removed, and the one line
``nstyle.web: interrupted`` ends it with exit code 130 (143 for SIGTERM).
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
from typing import TYPE_CHECKING

from nstyle.config import Options
from nstyle.errors import NStyleError, Terminated, error_line, exit_code
from nstyle.hosts import is_loopback
from nstyle.media import images
from nstyle.spec import MODELS

if TYPE_CHECKING:
    from starlette.applications import Starlette

PROG = "python -m nstyle.web"


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, like every other failure
        sys.exit(fail(f"{message} (see {PROG} --help)"))


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG,
        description="Serve nstyle's web app: paint in the browser, watch the picture form.",
        allow_abbrev=False,
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1); anything but a loopback address "
        "lets other machines run jobs here",
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="port (default: 8000; 0: any free one)"
    )
    parser.add_argument(
        "--gpu",
        type=int,
        default=None,
        help="GPU number, -1 for the CPU; default: GPU 0 if the CUDA build of MXNet sees "
        "one, else the CPU (as the nstyle command)",
    )
    parser.add_argument(
        "--model",
        choices=tuple(MODELS),
        default=None,
        help="the network of a job that names none; default vgg19, or vgg16 when VGG-19's "
        "weights can be neither found nor fetched (as the nstyle command)",
    )
    parser.add_argument(
        "--max-image-pixels",
        type=int,
        default=images.MAX_IMAGE_PIXELS,
        help="refuse uploaded pictures larger than this many pixels (a guard against "
        f"decompression bombs; default: {images.MAX_IMAGE_PIXELS})",
    )
    parser.add_argument(
        "--queue",
        type=int,
        default=4,
        help="jobs that may wait behind the running one (default: 4)",
    )
    return parser


def fail(message: str) -> int:
    print(error_line("nstyle.web", message), file=sys.stderr)
    return 2


def interrupt(signum, frame) -> None:
    """Ctrl-C and SIGTERM, once uvicorn has stopped (it handles them while it serves)."""
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def main(argv: list[str] | None = None) -> int:
    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return serve(argv)
    except KeyboardInterrupt as stop:
        print("nstyle.web: interrupted", file=sys.stderr)
        return exit_code(stop)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def check_args(args: argparse.Namespace) -> str | None:
    """The first mistake in the numbers given, as one line's message; None when none."""
    if not 0 <= args.port <= 65535:
        return f"--port must be in 0..65535, got {args.port}"
    if args.max_image_pixels < 1:
        return f"--max-image-pixels must be >= 1, got {args.max_image_pixels}"
    if args.queue < 1:
        return f"--queue must be >= 1, got {args.queue}"
    return None


def bind(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port``, bound before anything else: a port in use is
    one line, and ``--port 0`` learns its number; from then on, connections wait."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def serve(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    loopback = is_loopback(args.host)
    if not loopback:
        print(
            f"nstyle.web: warning: --host {args.host} is not a loopback address: anyone who "
            "can reach this machine can upload pictures and run jobs on it",
            file=sys.stderr,
        )
    mistake = check_args(args)
    if mistake is not None:
        return fail(mistake)
    try:
        from nstyle import devices

        ctx = devices.select_context(args.gpu)
    except NStyleError as exc:
        return fail(str(exc))
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        return fail(f"cannot listen on {args.host}:{args.port} ({exc.strerror or exc})")
    import uvicorn  # noqa: F401  (before the app makes its working folder: none left behind)

    from nstyle.web.app import create_app
    from nstyle.web.guard import LOOPBACK_NAMES

    app = create_app(
        ctx,
        max_waiting=args.queue,
        max_pixels=args.max_image_pixels,
        preload=True,
        defaults=Options(model=args.model) if args.model else Options(),
        fallback=None if args.model else "vgg16",
        hosts=(LOOPBACK_NAMES + [args.host]) if loopback else ["*"],
    )
    run(app, sock, args.host, str(ctx))
    print("nstyle.web: stopped", file=sys.stderr)
    return 0


def run(app: Starlette, sock: socket.socket, host: str, device: str) -> None:
    """Serve ``app`` on ``sock`` until a signal stops uvicorn (then raise it), and stop
    the app's server: the running job's epoch ends (a second Ctrl-C: at once), the
    working folder is removed."""
    import uvicorn

    from nstyle.web.server import signals_held

    server = app.state.server

    class Stoppable(uvicorn.Server):
        def handle_exit(self, sig: int, frame) -> None:
            server.stopping.set()  # uploads and event streams end now, not at the timeout
            super().handle_exit(sig, frame)

    # The worker starts and stops here, not in the app's lifespan: a second Ctrl-C makes
    # uvicorn skip the lifespan's end, and cancelling it would log a traceback.
    try:
        config = uvicorn.Config(
            app, lifespan="off", log_level="warning", access_log=False, timeout_graceful_shutdown=2
        )
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
        port = sock.getsockname()[1]
        shown = f"[{host}]" if sock.family == socket.AF_INET6 else host
        server.start()
        print(
            f"nstyle.web: serving on http://{shown}:{port} ({device}); Ctrl-C stops it", flush=True
        )
        Stoppable(config).run(sockets=[sock])  # then raises the signal that stopped it
    finally:
        try:
            server.stopping.set()
            server.close()
        finally:  # again, should a second Ctrl-C land before ``close`` held the signals
            with signals_held():
                server.remove_folder()


if __name__ == "__main__":
    sys.exit(main())
