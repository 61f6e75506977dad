"""``musicvae studio``: the parser's options (checked while parsing, as every command's) and the command."""

from __future__ import annotations

import argparse

from musicvae import options as opt


def add_command(sub) -> None:
    """Add ``studio`` to the ``musicvae`` parser's subparsers."""
    p = sub.add_parser("studio", help="play the instruments in a browser page (morph, sample, blend, harmonize, live)")
    p.add_argument("--host", type=opt.Text("a host name or address"), default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; any other needs the "
                   "printed token)")
    p.add_argument("--port", type=opt.integer(0, 65535), default=8765, help="TCP port (default 8765; 0 = any free)")
    p.add_argument("--no-browser", action="store_true", help="do not open the page in a browser")
    p.add_argument("--melody", type=opt.Text("an instrument"), default="melody-2bar",
                   help="melody instrument of the Morph, Sample and Live tabs (default melody-2bar)")
    p.add_argument("--timbre", type=opt.Text("an instrument"), default="flute-guitar",
                   help="timbre instrument of the Blend tab and synth sessions (default flute-guitar)")
    p.add_argument("--accompanist", type=opt.Text("an instrument"), default="bach-accompanist",
                   help="accompanist instrument of the Harmonize tab (default bach-accompanist)")
    p.set_defaults(func=cmd_studio)


def cmd_studio(args: argparse.Namespace) -> None:
    from musicvae.studio.server import serve

    serve(host=args.host, port=args.port, open_browser=not args.no_browser, melody=args.melody, timbre=args.timbre,
          accompanist=args.accompanist)
