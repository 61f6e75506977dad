"""The one command line: thin subcommands over library functions.

Users see one line per error and exit status 2 on bad input; ``--debug`` (before
or after the command) shows the traceback. Every option's value is checked as the
command line is parsed (:mod:`musicvae.options`), before any work, and a parse
error is one line too (no usage block; ``COMMAND --help`` has it). Heavy modules
(torch, lightning, music21) are imported inside the commands so that ``musicvae
--help`` starts fast.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import traceback
from pathlib import Path

from musicvae import options as opt
from musicvae.errors import MusicVAEError
from musicvae.io import print_written

# ---------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------


def cmd_configs(args: argparse.Namespace) -> None:
    from musicvae.config import dump_toml, registered_configs
    from musicvae.kinds import get_kind

    for name, config in registered_configs().items():
        if args.show:
            print(f"# {name}\n{dump_toml(config)}")
        else:
            print(f"{name:20s} {config.kind:8s} {get_kind(config.kind).describe(config)}")


def cmd_data_build(args: argparse.Namespace) -> None:
    from musicvae.data.recipes import recipe_kind
    from musicvae.kinds import kind_of_recipe

    kind = kind_of_recipe(recipe_kind(args.recipe))
    print(kind.build_data(kind.load_recipe(args.recipe), workers=args.workers, force=args.force,
                          progress=not args.quiet))


def _load_training_config(args: argparse.Namespace):
    from musicvae.config import apply_overrides, get_config, load_instrument_config
    from musicvae.errors import ConfigError
    from musicvae.instrument import INSTRUMENT_FILE, resolve_instrument

    folder = resolve_instrument(args.instrument)
    if args.config:
        config = get_config(args.config)
    elif (folder / INSTRUMENT_FILE).is_file():
        config = load_instrument_config(folder / INSTRUMENT_FILE)
    else:
        raise ConfigError(f"{folder} has no {INSTRUMENT_FILE}: give --config NAME (see `musicvae configs`)")
    return folder, apply_overrides(config, args.set or [])


def cmd_train(args: argparse.Namespace) -> None:
    from musicvae.io import check_output
    from musicvae.training.instrument import train_instrument

    folder, config = _load_training_config(args)
    for out in (folder, Path(args.run_dir or Path("runs") / folder.name)):  # before the data build and training
        check_output(out, folder=True)
    path = train_instrument(
        folder,
        config,
        command="musicvae " + " ".join(shlex.quote(str(a)) for a in args.argv),
        out_dir=args.run_dir,
        half=args.half,
        progress=not args.quiet,
        devices=args.devices,
        num_nodes=args.num_nodes,
        strategy=args.strategy,
        accelerator=args.accelerator,
        threads=args.threads,
        max_steps=args.max_steps,
        max_minutes=args.max_minutes,
        resume=args.resume,
        seed=args.seed,
        init_from=args.init_from,
    )
    if path is not None:  # None on DDP ranks > 0: rank 0 writes the instrument
        print(f"wrote {path} (evaluate it with: musicvae evaluate {path} --card)")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from musicvae.card import with_metrics
    from musicvae.evaluate import EvaluateOptions, evaluate_instrument, format_report, report_warnings
    from musicvae.instrument import CARD_FILE, Instrument
    from musicvae.io import atomic_write_text, check_output

    instrument = Instrument.load(args.instrument)
    if args.card:  # before the evaluation, which can take minutes
        check_output(instrument.path / CARD_FILE)
    options = EvaluateOptions(data=args.data, split=args.split, n_prior=args.n_prior, max_items=args.max_windows,
                              seed=args.seed, progress=not args.quiet, baseline=args.baseline)
    report = evaluate_instrument(instrument, options)
    text = format_report(report)
    print(json.dumps(report, indent=1, default=float) if args.json else text)
    for line in report_warnings(report):
        print(f"warning: {line}", file=sys.stderr)
    if args.plot:
        from musicvae.plots import evaluation_figure

        path = evaluation_figure(report, args.plot)
        print(f"wrote {path}", file=sys.stderr if args.json else sys.stdout)
    if args.card:
        card_path = instrument.path / CARD_FILE
        card = card_path.read_text() if card_path.is_file() else f"# {instrument.name}\n"
        atomic_write_text(card_path, with_metrics(card, text, report))
        print(f"updated {card_path}", file=sys.stderr)


def cmd_demo(args: argparse.Namespace) -> None:
    from musicvae.demo import run_demo

    print_written(run_demo(Path(args.output), seed=args.seed))


# ---------------------------------------------------------------------------
# parser
# ---------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``musicvae morph: error: ...``), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_debug(parser: argparse.ArgumentParser) -> None:
    """``--debug`` after the command as well as before it (SUPPRESS: an absent one keeps the top level's)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                if "--debug" not in sub._option_string_actions:
                    sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                     help="show tracebacks")
                _add_debug(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="musicvae", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("configs", help="list the registered configs")
    p.add_argument("--show", action="store_true", help="print each config as TOML")
    p.set_defaults(func=cmd_configs)

    data = sub.add_parser("data", help="dataset recipes and caches").add_subparsers(dest="data_command", required=True)
    p = data.add_parser("build", help="build a recipe's cache (parallel, resumable, atomic)")
    p.add_argument("recipe", type=opt.Text("a recipe"),
                   help="recipe name in datasets/, a .toml path, or a folder of MIDI files")
    p.add_argument("--workers", type=opt.integer(1, 256), default=None, help="worker processes (default: up to 2)")
    p.add_argument("--force", action="store_true", help="rebuild even if a fresh cache exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_data_build)

    p = sub.add_parser("train", help="train an instrument folder")
    p.add_argument("instrument", type=opt.OutputFolder(), help="instrument folder (instruments/NAME) or name")
    p.add_argument("--config", type=opt.Text("a config name (see musicvae configs)"),
                   help="registered config to start from (default: the folder's instrument.toml)")
    p.add_argument("--set", action="append", type=opt.KeyValue(), metavar="KEY=VALUE",
                   help="override a config value, e.g. model.z_dim=64")
    p.add_argument("--devices", type=opt.Devices(), default="auto", help="devices per node (auto, 1, 2, ... or 0,1)")
    p.add_argument("--num-nodes", type=opt.integer(1, 1024), default=1)
    p.add_argument("--strategy", type=opt.Strategy(), default="auto", help="auto, ddp, ddp_spawn, ...")
    p.add_argument("--accelerator", default="auto", choices=["auto", "cpu", "cuda", "gpu", "mps"])
    p.add_argument("--threads", type=opt.integer(1, 1024), default=None,
                   help="CPU threads (default: chosen from the load)")
    p.add_argument("--max-steps", type=opt.integer(1, 10**9), default=None)
    p.add_argument("--max-minutes", type=opt.number(0, 10**6, low_open=True), default=None)
    p.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    p.add_argument("--run-dir", type=opt.OutputFolder(), help="checkpoints and logs (default: runs/NAME)")
    p.add_argument("--seed", type=opt.SEED, default=None, help="default: the config's train.seed")
    p.add_argument("--half", action="store_true", help="store the weights as float16 (half the size)")
    p.add_argument("--init-from", type=opt.Text("an instrument"), default=None, metavar="INSTRUMENT",
                   help="start from a trained instrument's weights wherever names and shapes match")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    from musicvae.kinds import all_kinds

    for kind in all_kinds().values():  # each kind's job verbs: sample, morph, harmonize, blend...
        kind.add_commands(sub)

    from musicvae.export.command import add_command as add_export

    add_export(sub)  # musicvae export: each kind's decoder as ONNX, TorchScript or nn~

    from musicvae.studio.command import add_command as add_studio

    add_studio(sub)

    p = sub.add_parser("evaluate", help="measure an instrument on held-out data")
    p.add_argument("instrument", type=opt.Text("an instrument"))
    p.add_argument("--split", default="test", choices=["test", "valid", "train"])
    p.add_argument("--data", type=opt.Text("a recipe"), help="recipe to evaluate on (default: the instrument's)")
    p.add_argument("--n-prior", type=opt.integer(1, opt.MAX_PRIOR), default=1000,
                   help="prior samples for feature overlap (timbre: at most 100, each pitch-checked with pYIN)")
    p.add_argument("--max-windows", type=opt.integer(0, 10**9), default=0,
                   help="evaluate on at most this many windows, or chorales for an accompanist (0 = all)")
    p.add_argument("--baseline", type=opt.Text("an instrument"),
                   help="melody: a flat instrument run phrase by phrase over a longer model's windows, reported "
                        "beside it (default for a 16-bar model: a shipped 2-bar one of its meter)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--card", action="store_true", help="write the metrics into the instrument's card.md")
    p.add_argument("--plot", metavar="PNG", type=opt.Output(opt.PNG),
                   help="also draw the report (curves and bars against the baselines)")
    p.add_argument("--seed", type=opt.SEED, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("demo", help="play the shipped instruments into demo-output/")
    p.add_argument("-o", "--output", type=opt.OutputFolder(), default="demo-output")
    p.add_argument("--seed", type=opt.SEED, default=0)
    p.set_defaults(func=cmd_demo)
    _add_debug(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``musicvae`` console script. Returns the exit status."""
    try:
        status = _run(sys.argv[1:] if argv is None else [str(a) for a in argv])
        sys.stdout.flush()  # here, so that a closed pipe is caught below rather than at exit
        return status
    except BrokenPipeError:
        return _closed_stdout()


def _run(argv: list[str]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # a parse error (2, one line) or --help (0)
        return stop.code if isinstance(stop.code, int) else 2
    args.argv = argv  # recorded in cards as the command that made an instrument
    try:
        args.func(args)
    except MusicVAEError as error:
        if args.debug:
            traceback.print_exc()
        print(f"musicvae: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("musicvae: interrupted", file=sys.stderr)
        return 130
    return 0


def _closed_stdout() -> int:
    """``musicvae configs --show | head``: the reader left. Quietly, as Python's docs recommend
    (point stdout at /dev/null so that the exit's flush does not fail again); 141 = 128 + SIGPIPE, as a shell says.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (a test's capture)
        pass
    return 141


if __name__ == "__main__":
    sys.exit(main())
