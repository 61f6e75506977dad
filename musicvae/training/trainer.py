"""Lightning training for every kind: the trainer factory, thread choice, window datasets.

Import this module lazily (it imports ``lightning``); commands that do not train
must start fast. :func:`train_model` is the entry point: it seeds, asks the
config's kind (:mod:`musicvae.kinds`) for its data checks, Lightning module and
dataset, and runs a :class:`lightning.Trainer`
with a progress bar, checkpoints (``last.ckpt`` and the best by validation
loss), CSV logs, resume, a wall-clock limit, and DDP across devices or nodes.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from musicvae.config import InstrumentConfig
from musicvae.errors import ConfigError, InputError
from musicvae.training.optim import decaying_adam, learning_rate_at  # noqa: F401 - still importable from here
from musicvae.training.warm_start import warm_start

#: Validation runs on at most this many windows (a fixed random subset), so it stays cheap.
MAX_VAL_WINDOWS = 2048


# ---------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------


def choose_threads(requested: int | None = None, *, processes: int = 1) -> int:
    """Pick and set PyTorch's intra-op thread count.

    Intra-op threads thrash when other processes share the cores (2 threads on
    2 busy cores ran 13x slower than 1 in a trial), so by default only the
    cores the load average leaves idle are used, shared among ``processes``.

    Parameters
    ----------
    requested : int, optional
        Use exactly this many threads.
    processes : int
        Training processes on this machine (DDP on CPU) sharing the cores.

    Returns
    -------
    int
        The thread count set with :func:`torch.set_num_threads`.
    """
    cpus = os.cpu_count() or 1
    if requested is not None:
        if requested < 1:
            raise ConfigError(f"threads must be at least 1, got {requested}")
        threads = requested
    else:
        try:
            load = os.getloadavg()[0]
        except (OSError, AttributeError):  # not available on every platform
            load = 0.0
        idle = min(cpus, max(1, cpus - round(load)))
        threads = max(1, idle // max(1, processes))
    torch.set_num_threads(threads)
    return threads


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


class WindowDataset(Dataset):
    """Rows of a (possibly memory-mapped) uint8 array [N, T], fetched a whole batch at a time."""

    def __init__(self, windows: np.ndarray) -> None:
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> Tensor:
        return torch.from_numpy(np.array(self.windows[index], dtype=np.uint8))

    def __getitems__(self, indices: list[int]) -> Tensor:
        # One fancy-index per batch instead of one Python call per row; sorted
        # indices read a memory map in order (the order inside a batch is irrelevant).
        return torch.from_numpy(np.ascontiguousarray(self.windows[np.sort(np.asarray(indices))], dtype=np.uint8))


def _collate_batch(batch: Tensor) -> Tensor:
    return batch


# ---------------------------------------------------------------------------
# Callbacks
# ---------------------------------------------------------------------------


class _RunClock(Callback):
    """Measures training time and throughput; stops after ``max_minutes`` of this session.

    Lightning's own ``max_time`` counts the time of earlier sessions restored
    from a checkpoint; a resumed run here gets its full budget again. On Ctrl-C
    or SIGTERM (single process) it writes ``last.ckpt`` first, so ``resume`` continues.
    """

    def __init__(self, max_minutes: float | None, last_path: Path) -> None:
        self.max_seconds = None if max_minutes is None else 60.0 * max_minutes
        self.last_path = last_path
        self.start = self.val_seconds = 0.0
        self.val_start = self.end = 0.0
        self.first_step = self.sequences = 0
        self.stopped_by_time = False

    def on_train_start(self, trainer, pl_module) -> None:
        # After a checkpoint is restored, so a resumed run counts only its own steps.
        self.start = time.monotonic()
        self.first_step = trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.sequences += len(batch) * trainer.world_size
        if self.max_seconds is not None:
            over = time.monotonic() - self.start >= self.max_seconds
            over = trainer.strategy.broadcast(over)  # rank 0 decides, so every rank stops together
            if over:
                self.stopped_by_time = True
                trainer.should_stop = True

    def on_validation_start(self, trainer, pl_module) -> None:
        self.val_start = time.monotonic()

    def on_validation_end(self, trainer, pl_module) -> None:
        self.val_seconds += time.monotonic() - self.val_start

    def on_fit_end(self, trainer, pl_module) -> None:
        self.end = time.monotonic()

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        # Ctrl-C or a scheduler's SIGTERM: keep the work done. Only single-process
        # runs, since saving is collective under DDP and the other ranks may be gone.
        stopped = isinstance(exception, (KeyboardInterrupt, SIGTERMException))
        if stopped and trainer.world_size == 1 and trainer.global_step > 0:
            trainer.save_checkpoint(self.last_path, weights_only=False)


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------


def _processes_per_node(devices: Any) -> int:
    if isinstance(devices, int):
        return max(1, devices)
    if isinstance(devices, str) and devices.strip().isdigit():
        return max(1, int(devices))
    if isinstance(devices, (list, tuple)):
        return max(1, len(devices))
    return 1


def _load_module_weights(module: lightning.LightningModule, path: Path) -> None:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    module.load_state_dict(checkpoint["state_dict"])


def train_model(
    config: InstrumentConfig,
    train_windows: np.ndarray,
    valid_windows: np.ndarray,
    *,
    out_dir: str | Path,
    devices: int | str | list[int] = "auto",
    num_nodes: int = 1,
    strategy: str = "auto",
    accelerator: str = "auto",
    threads: int | None = None,
    max_steps: int | None = None,
    max_minutes: float | None = None,
    resume: bool = False,
    progress: bool = True,
    seed: int | None = None,
    init_from: Mapping[str, Tensor] | None = None,
) -> tuple[nn.Module | None, dict[str, Any]]:
    """Train an instrument's model with Lightning, whatever its kind.

    Parameters
    ----------
    config : InstrumentConfig
        Model and training settings; ``config.kind`` names the kind that trains it.
    train_windows, valid_windows
        The kind's training and validation sets (:attr:`musicvae.kinds.base.TrainingData.train`):
        melody windows [N, T] uint8, chorale windows [N, 4, T] uint8, a timbre SpectrogramSet.
    out_dir : path
        Receives ``checkpoints/`` (``last.ckpt``, ``best-step=N.ckpt``) and ``logs/version_K/metrics.csv``.
    devices, num_nodes, strategy, accelerator
        Passed to :class:`lightning.Trainer` (e.g. ``devices=2, strategy="ddp"``;
        on CPU DDP uses the gloo backend).
    threads : int, optional
        PyTorch intra-op threads per process; default from the load (:func:`choose_threads`).
    max_steps : int, optional
        Total optimizer steps (counting resumed ones); default ``config.train.max_steps``.
    max_minutes : float, optional
        Wall-clock limit of this session; the run then stops and saves ``last.ckpt``.
    resume : bool
        Continue from ``out_dir/checkpoints/last.ckpt`` (step count, optimizer, schedules).
    progress : bool
        Show a progress bar.
    seed : int, optional
        Default ``config.train.seed``.
    init_from : mapping of str to Tensor, optional
        Another model's ``state_dict()`` to start from: every tensor of the same name and
        shape is copied in (:func:`~musicvae.training.warm_start.warm_start`). Not applied
        when resuming, whose checkpoint already holds the weights it started from.

    Returns
    -------
    model : nn.Module or None
        The best checkpoint by the kind's monitored metric (else the last), in eval mode, on
        CPU; None on DDP ranks other than 0 (rank 0 writes the instrument).
    summary : dict
        ``steps``, ``minutes``, ``sequences_per_second``, ``val`` (final metrics
        of the returned model), checkpoint paths, ``threads``, ``world_size``,
        ``stopped_by``, and ``warm_start`` (what ``init_from`` gave) when it was applied.

    Raises
    ------
    InputError
        Windows of the wrong shape or empty; ``resume`` without a checkpoint, or
        a fresh run into a folder that already holds one.
    ConfigError
        A config this trainer cannot train.
    """
    from musicvae.kinds import get_kind

    kind, train_cfg = get_kind(config.kind), config.train
    train_windows = kind.check_training_data(train_windows, "training", config=config)
    valid_windows = kind.check_training_data(valid_windows, "validation", config=config)
    out_dir = Path(out_dir)
    ckpt_dir = out_dir / "checkpoints"
    last_path = ckpt_dir / "last.ckpt"
    if resume and not last_path.is_file():
        raise InputError(f"nothing to resume: {last_path} does not exist")
    if not resume and last_path.exists():
        raise InputError(f"{out_dir} already holds a training run; pass resume to continue it, or use a new folder")

    seed = train_cfg.seed if seed is None else seed
    lightning.seed_everything(seed, workers=True, verbose=False)
    on_cuda = accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    processes = 1 if on_cuda else _processes_per_node(devices)
    n_threads = choose_threads(threads, processes=processes)
    max_steps = train_cfg.max_steps if max_steps is None else max_steps

    module = kind.lightning_module(config)
    started = warm_start(module.model, init_from) if init_from is not None and not resume else None
    clock = _RunClock(max_minutes, last_path)
    monitor, mode = kind.monitor
    best = ModelCheckpoint(
        dirpath=ckpt_dir, filename="best-{step}", monitor=monitor, mode=mode, save_top_k=1, save_last=True
    )
    callbacks: list[Callback] = [best, clock]
    if progress:
        callbacks.append(TQDMProgressBar(refresh_rate=1 if sys.stderr.isatty() else 50))
    trainer = lightning.Trainer(
        accelerator=accelerator,
        devices=devices,
        num_nodes=num_nodes,
        strategy=strategy,
        precision="bf16-mixed" if on_cuda and torch.cuda.is_bf16_supported() else "32-true",
        max_steps=max_steps,
        max_epochs=-1,
        val_check_interval=train_cfg.val_every,
        check_val_every_n_epoch=None,  # count val_every across epochs
        num_sanity_val_steps=0,
        gradient_clip_val=train_cfg.grad_clip if train_cfg.grad_clip > 0 else None,
        gradient_clip_algorithm="norm",
        logger=CSVLogger(out_dir, name="logs"),
        log_every_n_steps=max(1, min(50, train_cfg.val_every)),
        callbacks=callbacks,
        enable_progress_bar=progress,
        enable_model_summary=progress,
    )

    batch_size = train_cfg.batch_size
    world = trainer.world_size
    train_loader = DataLoader(
        kind.dataset(train_windows),
        batch_size=batch_size,
        shuffle=True,
        drop_last=len(train_windows) // world >= batch_size,
        collate_fn=_collate_batch,
        num_workers=0,
    )
    if len(valid_windows) > MAX_VAL_WINDOWS:
        # A fixed random subset: representative of every piece, and cheap.
        keep = np.random.default_rng(seed).choice(len(valid_windows), MAX_VAL_WINDOWS, replace=False)
        valid_windows = valid_windows[np.sort(keep)]
    val_loader = DataLoader(
        kind.dataset(valid_windows), batch_size=batch_size, shuffle=False, collate_fn=_collate_batch, num_workers=0
    )

    with warnings.catch_warnings():
        # num_workers=0 is deliberate: a batch is one array slice, far cheaper than a worker round trip.
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*smaller than the logging interval.*")
        trainer.fit(module, train_loader, val_loader, ckpt_path=last_path if resume else None)
        # Lightning writes last.ckpt only when it validates; this one holds the final step.
        trainer.save_checkpoint(last_path, weights_only=False)
        best_path = Path(best.best_model_path) if best.best_model_path else None
        if best_path is not None and best_path.is_file():
            _load_module_weights(module, best_path)
        metrics = trainer.validate(module, val_loader, verbose=False)

    train_seconds = max(1e-9, clock.end - clock.start - clock.val_seconds)
    # Under DDP every rank runs this function; only rank 0 hands back the model to save.
    model = module.model.to("cpu").eval() if trainer.global_rank == 0 else None
    summary = {
        "steps": trainer.global_step,
        "steps_this_run": trainer.global_step - clock.first_step,
        "minutes": (clock.end - clock.start) / 60.0,
        "sequences_per_second": clock.sequences / train_seconds,
        "val": {k.split("/", 1)[1]: float(v) for k, v in (metrics[0] if metrics else {}).items()},
        "weights": "best" if best_path is not None and best_path.is_file() else "last",
        "best_checkpoint": str(best_path) if best_path is not None else None,
        "last_checkpoint": str(last_path),
        "log_dir": trainer.logger.log_dir if trainer.logger is not None else None,
        "threads": n_threads,
        "world_size": world,
        "stopped_by": "max_minutes" if clock.stopped_by_time else "max_steps",
    }
    if started is not None:
        summary["warm_start"] = started.summary()
    return model, summary
