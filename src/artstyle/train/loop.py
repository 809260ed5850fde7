"""The training loop: visible, top to bottom, on Lightning Fabric.

One loop trains every model of the toolkit. What differs between a
classifier and an autoencoder lives in a *task* object (see :class:`Task`):
it owns the data, builds the model, turns sample indices into device batches,
and computes one ``step(model, batch, stage)`` shared by training and
evaluation (Lightning's ``_common_step``). The loop owns everything else:
devices and precision, DDP, the optimiser and learning-rate schedule, EMA
weights, sharding the data over ranks, metrics reduced across ranks, the
time budget, Ctrl-C, checkpoints, resume, best-epoch selection and the
progress display.

    artstyle train classifier --data DATA --out RUN --epochs 10
    artstyle train classifier --data DATA --out RUN --devices 2 --accelerator cpu   # DDP over gloo
    artstyle train classifier --resume RUN

Multi-process runs (``--devices N`` / ``--num-nodes M``) use Fabric's DDP
launcher, which starts the other local ranks by running the same command line
again; everything before :func:`fit` therefore must not write files.
"""

from __future__ import annotations

import contextlib
import math
import signal
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from artstyle.config import TrainConfig
from artstyle.errors import ArtstyleError
from artstyle.progress import Progress
from artstyle.threads import keep_freed_memory, use_threads
from artstyle.train import runs
from artstyle.train.engine import is_launched_child, make_fabric, resolve_precision, sync_batchnorm
from artstyle.train.optim import EMA, Schedule, make_optimizer
from artstyle.train.runs import RunFolder

CHECKPOINT_FORMAT = 1


@dataclass
class StepOutput:
    """What :meth:`Task.step` returns for one batch."""

    # scalar: the mean loss that ``backward`` uses (train stage)
    loss: torch.Tensor
    # sums over the batch, on the device; the loop adds them up over an epoch and across ranks
    stats: dict[str, torch.Tensor]
    n_images: int = 0


class Task(Protocol):
    """What the loop needs from a task (the classifier and the autoencoder implement it).

    Stages are ``"train"``, ``"val"`` and ``"test"``. Indices are rows of the
    task's own data arrays; the loop shuffles nothing itself, it only shards
    the index list over ranks and cuts it into batches.
    """

    name: str  # "classifier": written to config.yaml as the run's task
    classes: list[str]  # written to classes.json
    selection_metric: str  # a key of summarize(..., "val") that picks the best epoch
    selection_mode: str  # "max" or "min"

    def setup(self, device: torch.device) -> None:
        """Move data (and loss constants) to ``device``; called once per process after launch."""

    def build_model(self) -> nn.Module:
        """A fresh model built by name from the architecture registry."""

    def train_indices(self, epoch: int) -> np.ndarray:
        """The samples of epoch ``epoch`` in reading order (same on every rank: derive it from the seed)."""

    def eval_indices(self, stage: str) -> np.ndarray | None:
        """The samples of ``"val"`` or ``"test"``; None when the stage has no data."""

    def make_batch(self, indices: np.ndarray, stage: str, generator: torch.Generator | None) -> Any:
        """The batch of these samples on the device; ``generator`` drives augmentation in the train stage."""

    def zero_stats(self, stage: str, device: torch.device) -> dict[str, torch.Tensor]:
        """Zeros with the keys and shapes of ``step(...).stats``."""

    def step(self, model: nn.Module, batch: Any, stage: str) -> StepOutput:
        """Loss and summed statistics for one batch; the same code for training and evaluation."""

    def summarize(self, totals: dict[str, torch.Tensor], stage: str) -> dict[str, float]:
        """Epoch metrics (``loss`` at least) from statistics summed over all batches and ranks."""


@dataclass
class TrainState:
    """Where training stands; saved in every checkpoint."""

    epoch: int = 0  # the epoch in progress (0-based)
    batch_in_epoch: int = 0  # batches of that epoch already done
    step: int = 0  # optimiser steps done overall
    planned_epochs: int = 0
    best_score: float | None = None
    best_epoch: float | None = None  # a fraction when the best was a partial epoch
    history: list[dict[str, Any]] = field(default_factory=list)
    train_images: int = 0  # images seen in training, all ranks, all sessions
    train_seconds: float = 0.0  # time in training batches (evaluation excluded)
    elapsed_seconds: float = 0.0  # wall time over all sessions

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class FitResult:
    """What :func:`fit` hands back to the task's command (on every rank)."""

    fabric: Any
    model: nn.Module  # the evaluated model (EMA when on) with the best epoch's weights, eval mode
    state: TrainState
    # None: all epochs ran; "time": --max-minutes cut the run or shortened its schedule;
    # "interrupt": Ctrl-C
    stopped: str | None
    images_per_second: float


# ---------------------------------------------------------------- sharding and evaluation


def shard(indices: np.ndarray, rank: int, world_size: int, *, pad: bool) -> np.ndarray:
    """This rank's share of ``indices`` (every world_size-th from ``rank``).

    ``pad`` (training) wraps the list around so every rank gets the same
    number of samples and DDP's gradient all-reduce never waits on a rank that
    has run out; evaluation does not pad, so no sample is counted twice.
    """
    indices = np.asarray(indices, dtype=np.int64)
    if world_size == 1:
        return indices
    if pad and indices.size % world_size:
        extra = world_size - indices.size % world_size
        indices = np.concatenate([indices, np.resize(indices, extra)])
    return indices[rank::world_size]


def batch_slices(n: int, batch_size: int) -> list[tuple[int, int]]:
    """Training batches over n samples; a last batch of a single image joins the one before.

    (BatchNorm cannot normalise a batch of one in training mode.)
    """
    bounds = [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < 2:
        last = bounds.pop()
        bounds[-1] = (bounds[-1][0], last[1])
    return bounds


def batch_seed(seed: int, epoch: int, batch: int) -> int:
    """A seed per (epoch, batch): augmentation of any batch is reproducible, so resume is exact.

    Every rank gets the same seed and keeps its own rows of the global batch's
    draws (``batches.shared_rand``), so N processes augment as one does.
    """
    return int(
        np.random.SeedSequence([seed, epoch, batch, 0xA06]).generate_state(1, dtype=np.uint64)[0]
        >> 1
    )


def add_stats(totals: dict[str, torch.Tensor], stats: dict[str, torch.Tensor]) -> None:
    for key, value in stats.items():
        totals[key] += value.detach().to(totals[key].dtype)


def reduce_stats(fabric, totals: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Sum every statistic over all ranks (the whole data set, not one rank's share)."""
    if fabric.world_size == 1:
        return totals
    return {key: fabric.all_reduce(value.clone(), reduce_op="sum") for key, value in totals.items()}


def eval_batch_size(requested: int | None, device: torch.device) -> int:
    """``requested``, or the device's default evaluation batch when it is None.

    On a CPU, batches of 128 run faster than 512 (6,700 against 4,500
    images/s for resnet_tiny at 64 px on 2 cores, bench section ``eval``):
    a larger batch's activations no longer fit in cache. GPUs want large batches.
    """
    if requested is not None:
        return int(requested)
    return 128 if torch.device(device).type == "cpu" else 512


@torch.no_grad()
def evaluate_stage(
    fabric, task: Task, model: nn.Module, stage: str, *, batch_size: int | None
) -> dict[str, torch.Tensor] | None:
    """Statistics of ``stage`` summed over all its samples and all ranks (None: the stage has no data).

    Every rank evaluates its shard in large batches (``batch_size``, or the
    device's default: :func:`eval_batch_size`) under the run's precision; the
    sums are all-reduced so every rank gets the same numbers.
    """
    batch_size = eval_batch_size(batch_size, fabric.device)
    indices = task.eval_indices(stage)
    if indices is None or len(indices) == 0:
        return None
    was_training = model.training
    model.eval()
    totals = task.zero_stats(stage, fabric.device)
    local = shard(indices, fabric.global_rank, fabric.world_size, pad=False)
    with fabric.autocast():
        for start in range(0, len(local), batch_size):
            batch = task.make_batch(local[start : start + batch_size], stage, None)
            add_stats(totals, task.step(model, batch, stage).stats)
    model.train(was_training)
    return reduce_stats(fabric, totals)


def require_training_images(data) -> None:
    """Refuse a data set with fewer than 2 readable training images (nothing to train on)."""
    if "train" not in data.arrays or len(data.indices["train"]) < 2:
        raise ArtstyleError("fewer than 2 training images are readable; nothing to train on")


def final_stage(data) -> str:
    """The split a finished run is scored on: test when the data has test images, else val."""
    return "test" if len(data.indices.get("test", ())) else "val"


@dataclass
class Finished:
    """A fitted run and its final evaluation, as rank 0 gets it."""

    result: FitResult
    stage: str  # "test" or "val": see final_stage
    totals: dict[str, torch.Tensor]


def fit_and_evaluate(
    task: Task, config: TrainConfig, run: RunFolder, data, *, resume: bool, quiet: bool
) -> Finished | None:
    """Create (or reopen) the run folder, fit ``task``, then evaluate the best weights on every rank.

    Returns None on DDP ranks other than 0, which write nothing; rank 0 gets
    the totals summed over all ranks.
    """
    if not is_launched_child():
        runs.create_run(run.path, resume=resume)
        if not resume:
            # config.yaml marks the folder as a run at once: one stopped before its first
            # checkpoint (Ctrl-C while the images go to the device, say) takes --resume, which
            # starts it over from step 0; classes.json first, as fit writes them
            runs.write_classes(run, task.classes)
            runs.write_config(run, config, task=task.name)
    result = fit(task, config, run, resume=resume, quiet=quiet)
    stage = final_stage(data)
    totals = evaluate_stage(
        result.fabric, task, result.model, stage, batch_size=config.eval_batch_size
    )
    if not result.fabric.is_global_zero:
        return None
    if totals is None:
        raise ArtstyleError(f"the {stage} split has no images to evaluate")
    return Finished(result, stage, totals)


def run_summary(config: TrainConfig, data, result: FitResult, *, best_key: str) -> dict[str, Any]:
    """The metrics.json keys every training command writes about the run itself.

    ``best_key`` names the validation score that picked the best epoch
    (e.g. ``best_val_loss``).
    """
    state = result.state
    return {
        "n_parameters": sum(p.numel() for p in result.model.parameters()),
        "n_train": int(len(data.indices["train"])),
        "n_val": int(len(data.indices.get("val", []))),
        "best_epoch": state.best_epoch,
        best_key: state.best_score,
        "epochs_run": state.history[-1]["epoch"] if state.history else 0,
        # fewer than config.epochs when --max-minutes shortened the schedule
        "epochs_planned": state.planned_epochs,
        "stopped": result.stopped or "finished",
        "training_seconds": round(state.elapsed_seconds, 2),
        "train_images_per_second": round(result.images_per_second, 2),
        "devices": config.devices * config.num_nodes,
        "precision": resolve_precision(config.precision, config.accelerator),
        "threads": config.threads,
        # which files it learned from: the report compares runs of one data set only
        "data_fingerprint": getattr(data, "fingerprint", None),
    }


# ---------------------------------------------------------------- stop requests


class StopRequests:
    """Ctrl-C and the time budget, turned into a flag the loop reads between steps.

    The first Ctrl-C asks for a clean stop (the checkpoint is written at the
    next step boundary); a second one interrupts at once and writes nothing,
    as it may land mid-step: the last checkpoint written stays. In DDP the
    flag is max-reduced over ranks so every rank stops at the same step.
    """

    NONE, TIME, INTERRUPT = 0, 1, 2

    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline
        self.interrupted = False
        self._previous = None

    def __enter__(self) -> StopRequests:
        with contextlib.suppress(ValueError):  # not the main thread: keep the default handler
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _on_sigint(self, signum, frame) -> None:
        if self.interrupted:
            raise KeyboardInterrupt
        self.interrupted = True

    def local_code(self) -> int:
        if self.interrupted:
            return self.INTERRUPT
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return self.TIME
        return self.NONE

    def poll(self, fabric) -> int:
        code = self.local_code()
        if fabric.world_size > 1:
            flag = torch.tensor([code], device=fabric.device)
            code = int(fabric.all_reduce(flag, reduce_op="max").item())
        return code


# ---------------------------------------------------------------- progress display


_SHORT = {"accuracy": "acc", "balanced_accuracy": "bal-acc"}


def format_metrics(metrics: dict[str, float], prefix: str = "") -> str:
    """``loss 1.23 acc 0.456`` (short names, 4 significant digits)."""
    shown = [
        f"{_SHORT.get(key, key)} {value:.4g}"
        for key, value in metrics.items()
        if isinstance(value, float)
    ]
    return prefix + " ".join(shown)


# ---------------------------------------------------------------- the loop


def fit(
    task: Task, config: TrainConfig, run: RunFolder, *, resume: bool = False, quiet: bool = False
) -> FitResult:
    """Train ``task`` with ``config`` into ``run``; continue from ``run``'s last checkpoint when ``resume``.

    Writes (global rank 0 only) config.yaml and classes.json at the start,
    model.safetensors + model.json whenever the validation score improves
    (every epoch when there is no validation split), checkpoints/last.ckpt and
    history.csv after every epoch and when the time budget ends; a Ctrl-C
    writes checkpoints/last.ckpt at once, with no validation pass. Weights
    that turn NaN or infinite stop the run with the epochs before kept.
    The task's command writes metrics.json from the returned model.
    """
    session_start = time.monotonic()
    fabric = make_fabric(config)
    fabric.launch()
    is_zero = fabric.is_global_zero
    # the thread count is the config's (recorded in config.yaml), never the load's; processes
    # on one CPU share its threads, since one full pool each would oversubscribe the cores
    local_processes = fabric.world_size // max(1, config.num_nodes)
    per_process = max(1, config.threads // max(1, local_processes))
    use_threads(per_process if fabric.device.type == "cpu" else config.threads)
    keep_freed_memory()
    if fabric.device.type == "cpu":
        # the same seed gives the same numbers to the last digit (CUDA keeps its fast kernels)
        torch.use_deterministic_algorithms(True, warn_only=True)
    from lightning.fabric.utilities.seed import seed_everything

    seed_everything(config.seed, verbose=False)
    task.setup(fabric.device, share=(fabric.global_rank, fabric.world_size))
    model = task.build_model()
    if config.sync_batchnorm and fabric.world_size > 1:
        sync_batchnorm(model)
    # channels_last convolutions: faster on tensor cores, and on CPU (1.3-2x per training step
    # for the classifier, autoencoder and stylizer, docs/benchmarks.md)
    model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, config, fabric.world_size)

    steps_per_epoch = len(
        batch_slices(
            len(shard(task.train_indices(0), 0, fabric.world_size, pad=True)), config.batch_size
        )
    )
    state = TrainState(planned_epochs=config.epochs)
    schedule = Schedule(
        config.schedule,
        total_steps=config.epochs * steps_per_epoch,
        warmup_steps=int(round(config.warmup_epochs * steps_per_epoch)),
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    ema = EMA(model, config.ema_decay) if config.ema else None

    raw_model = model  # parameters shared with the Fabric/DDP wrapper: what gets saved
    if config.compile:
        model = torch.compile(model)
    fabric_model, fabric_optimizer = fabric.setup(model, optimizer)
    if ema is not None:
        ema.model.to(fabric.device)
    resumable = _Resumable(raw_model, optimizer, scheduler, ema, state, schedule, fabric)

    best_state: dict[str, torch.Tensor] | None = None
    if resume and not run.checkpoint_path.is_file():
        # killed before its first checkpoint: nothing was kept, so the run starts over from
        # step 0 with its own config.yaml (the same seed gives the same run)
        resume = False
        if is_zero and not quiet:
            Progress(False).print(
                f"{run.checkpoint_path} not written yet: starting {run.path} over from step 0"
            )
    if resume:
        checkpoint = runs.load_checkpoint(run.checkpoint_path)
        _restore(checkpoint, resumable, run.checkpoint_path)
        # a schedule run to its end without metrics.json was stopped in its final scoring:
        # it is finished (no training); one with metrics.json is done and refused
        finishing = state.epoch >= state.planned_epochs
        if finishing and run.metrics_path.is_file():
            raise ArtstyleError(
                f"{run.path} already finished its schedule, shortened to {state.planned_epochs} "
                f"of {config.epochs} epochs to fit --max-minutes; its learning rate has annealed, "
                "so it cannot be extended: start a new run with a larger --max-minutes"
                if state.planned_epochs < config.epochs
                else f"{run.path} already trained all {config.epochs} epochs; nothing to resume "
                "(start a new run for more epochs; `artstyle evaluate` scores it again)"
            )
        if run.weights_path.is_file():
            best_state = runs.read_weights(run)
            runs.load_state(raw_model, best_state, source=run.weights_path, check_only=True)
        if is_zero:
            # the numbers of the session before describe weights this one goes on to replace:
            # a resumed session stopped early must not leave them beside its new weights
            run.metrics_path.unlink(missing_ok=True)
        if is_zero and not quiet:
            Progress(False).print(
                f"{run.path} trained all {state.planned_epochs} epochs before it was stopped: "
                "finishing it (final evaluation and metrics)"
                if finishing
                else f"resuming {run.path} at epoch {state.epoch + 1}, batch {state.batch_in_epoch}, step {state.step}"
            )
    elif is_zero:
        # classes.json first: config.yaml marks a folder as a run, and a run killed between
        # the two writes must still have its class map when it is resumed
        runs.write_classes(run, task.classes)
        runs.write_config(run, config, task=task.name)

    eval_model = ema.model if ema is not None else raw_model
    deadline = session_start + config.max_minutes * 60.0 if config.max_minutes else None
    elapsed_before = state.elapsed_seconds
    stopped: str | None = None

    def elapsed() -> float:
        return elapsed_before + time.monotonic() - session_start

    def save_last() -> None:
        state.elapsed_seconds = elapsed()
        if is_zero:
            runs.save_checkpoint(
                run.checkpoint_path,
                _checkpoint(resumable, config),
            )

    def record_epoch(row: dict[str, Any], val_metrics: dict[str, float] | None) -> None:
        nonlocal best_state
        score = None if val_metrics is None else val_metrics.get(task.selection_metric)
        improved = improves(score, state.best_score, task.selection_mode)
        if improved:
            state.best_score = score
            state.best_epoch = row["epoch"]
            best_state = {
                key: value.detach().to("cpu", copy=True)
                for key, value in eval_model.state_dict().items()
            }
            if is_zero:
                runs.save_model(run, eval_model, best_state)
        row["best"] = int(improved)
        state.history.append(row)
        if is_zero:
            runs.write_history(run, state.history)

    with (
        StopRequests(deadline) as stop,
        Progress(is_zero and config.progress and not quiet) as progress,
    ):
        try:
            while state.epoch < state.planned_epochs:
                epoch_start = time.monotonic()
                images_before, seconds_before = state.train_images, state.train_seconds
                # a session resumed mid-epoch trains (and averages) only the batches after it
                first_batch = state.batch_in_epoch
                train_metrics, stop_code, completed = train_one_epoch(
                    fabric,
                    task,
                    fabric_model,
                    fabric_optimizer,
                    scheduler,
                    ema,
                    state,
                    config,
                    stop,
                    progress,
                )
                if not all_finite(raw_model):
                    # nothing from this epoch is recorded or saved: the last checkpoint and the
                    # best weights stay those of the epochs before it
                    stopped = "diverged"
                    _report_divergence(state, is_zero and not quiet)
                    break
                if stop_code == StopRequests.INTERRUPT and not completed:
                    # Ctrl-C mid-epoch: save where training stands at once, without a validation
                    # pass that may take a while; a part-epoch is neither a history row nor a
                    # best candidate, and the resumed run validates the epoch when it ends
                    save_last()
                    stopped = "interrupt"
                    break
                val_totals = evaluate_stage(
                    fabric, task, eval_model, "val", batch_size=config.eval_batch_size
                )
                val_metrics = task.summarize(val_totals, "val") if val_totals is not None else None
                row = {
                    "epoch": state.epoch + 1
                    if completed
                    else round(state.epoch + state.batch_in_epoch / steps_per_epoch, 3),
                    "step": state.step,
                    "lr": optimizer.param_groups[0]["lr"],
                    **{f"train_{key}": value for key, value in train_metrics.items()},
                    **(
                        {f"val_{key}": value for key, value in val_metrics.items()}
                        if val_metrics
                        else {}
                    ),
                    # this epoch's training batches (data, augmentation, step); evaluation not included
                    "images_per_second": (state.train_images - images_before)
                    / max(state.train_seconds - seconds_before, 1e-9),
                    "elapsed_seconds": elapsed(),
                }
                if first_batch:
                    # train_* of this row average batches first_batch+1.. only (the ones before
                    # were trained by the session that was stopped); history.csv says so here
                    row["train_from_batch"] = first_batch + 1
                record_epoch(row, val_metrics)
                if completed:
                    state.epoch += 1
                    state.batch_in_epoch = 0
                save_last()
                if is_zero and not quiet:
                    progress.print(_epoch_line(row, state, train_metrics, val_metrics))
                if stop_code == StopRequests.INTERRUPT:
                    stopped = "interrupt"
                    break
                if stop_code == StopRequests.TIME:
                    stopped = "time"
                    if is_zero and not quiet:
                        progress.print(
                            "time budget (--max-minutes) reached: stopping; best and last weights kept"
                        )
                    break
                if deadline is not None:
                    planned = state.planned_epochs
                    _fit_schedule_to_budget(
                        fabric, state, schedule, steps_per_epoch, epoch_start, deadline
                    )
                    if state.planned_epochs < planned and is_zero and not quiet:
                        progress.print(
                            f"--max-minutes: learning-rate schedule shortened to "
                            f"{state.planned_epochs} of {config.epochs} epochs, so it anneals in time"
                        )
        except KeyboardInterrupt:
            # a second Ctrl-C lands anywhere, e.g. between optimizer.step() and the step count:
            # no checkpoint is written from that state, the last one written stays as it was
            stopped = "interrupted at once"
            raise
        finally:
            if stopped == "interrupt" and is_zero:
                Progress(False).print(
                    f"interrupted: {run.checkpoint_path} kept; continue with --resume {run.path}"
                )
            elif stopped == "interrupted at once" and is_zero:
                Progress(False).print(
                    f"interrupted at once: {run.checkpoint_path} from the last finished epoch "
                    f"or clean stop kept; continue with --resume {run.path}"
                    if run.checkpoint_path.is_file()
                    else f"interrupted at once, before the first checkpoint: {run.path} "
                    "holds no training state to resume"
                )
    state.elapsed_seconds = elapsed()
    if stopped is None and state.planned_epochs < config.epochs:
        stopped = "time"  # a schedule fitted to --max-minutes, run to its end

    if best_state is not None:
        eval_model.load_state_dict(best_state)
    elif stopped == "diverged":
        raise ArtstyleError(
            f"training diverged in its first epoch (weights became NaN or infinite): no weights "
            f"were kept in {run.path}; start again with a lower --lr (now {config.lr:g}) or "
            "with --grad-clip 1.0"
        )
    eval_model.eval()
    if is_zero and not run.weights_path.is_file():
        runs.save_model(run, eval_model)
    if stopped == "interrupt":
        raise KeyboardInterrupt
    return FitResult(fabric, eval_model, state, stopped, _rate(state))


def train_one_epoch(
    fabric,
    task: Task,
    model,
    optimizer,
    scheduler,
    ema: EMA | None,
    state: TrainState,
    config: TrainConfig,
    stop: StopRequests,
    progress: Progress,
) -> tuple[dict[str, float], int, bool]:
    """One pass over this rank's share of the epoch's samples, from ``state.batch_in_epoch`` on.

    Returns the training metrics (reduced over ranks), the stop code seen
    (0: none) and whether the epoch ran to its end.
    """
    model.train()
    indices = shard(
        task.train_indices(state.epoch), fabric.global_rank, fabric.world_size, pad=True
    )
    bounds = batch_slices(len(indices), config.batch_size)
    totals = task.zero_stats("train", fabric.device)
    generator = torch.Generator(device=fabric.device)
    progress.start(
        f"epoch {state.epoch + 1}/{state.planned_epochs}", len(bounds), state.batch_in_epoch
    )
    # in DDP the stop flag is a collective: poll it every few steps, on every rank at the same steps
    poll_every = 1 if fabric.world_size == 1 else 10
    stop_code = StopRequests.NONE
    last_shown = time.monotonic()
    for batch_index in range(state.batch_in_epoch, len(bounds)):
        started = time.monotonic()
        start, end = bounds[batch_index]
        generator.manual_seed(batch_seed(config.seed, state.epoch, batch_index))
        batch = task.make_batch(indices[start:end], "train", generator)
        output = task.step(model, batch, "train")
        optimizer.zero_grad(set_to_none=True)
        fabric.backward(output.loss)
        if config.grad_clip is not None:
            fabric.clip_gradients(model, optimizer, max_norm=config.grad_clip)
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update()
        add_stats(totals, output.stats)
        state.step += 1
        state.batch_in_epoch = batch_index + 1
        state.train_images += (end - start) * fabric.world_size
        if (batch_index + 1) % poll_every == 0 or batch_index == len(bounds) - 1:
            stop_code = stop.poll(fabric)
        state.train_seconds += time.monotonic() - started
        info = None
        if progress.enabled and time.monotonic() - last_shown > 0.5:
            last_shown = time.monotonic()
            running = task.summarize(
                totals, "train"
            )  # this rank's share so far: a display, not a result
            shown = {key: running[key] for key in ("loss", "accuracy") if key in running}
            info = f"{format_metrics(shown)}  {_rate(state):.0f} img/s"
        progress.advance(1, info)
        if stop_code != StopRequests.NONE:
            break
    completed = state.batch_in_epoch >= len(bounds)
    return task.summarize(reduce_stats(fabric, totals), "train"), stop_code, completed


# ---------------------------------------------------------------- helpers


def improves(score: float | None, best: float | None, mode: str) -> bool:
    """Whether a validation ``score`` beats the ``best`` so far (``mode`` "max" or "min").

    No score (no validation data) always counts as better: the latest weights
    are kept. NaN never beats a number, and a number always beats NaN, so one
    bad evaluation cannot become a best that no later epoch can replace.
    """
    if score is None or best is None:
        return True
    if math.isnan(score):
        return math.isnan(best)
    if math.isnan(best):
        return True
    return score > best if mode == "max" else score < best


def all_finite(model: nn.Module) -> bool:
    """True when every floating-point parameter and buffer is finite (one host sync)."""
    tensors = [t for t in (*model.parameters(), *model.buffers()) if t.is_floating_point()]
    if not tensors:
        return True
    return bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all().item())


def _report_divergence(state: TrainState, show: bool) -> None:
    if not show:
        return
    kept = (
        f"the best weights (epoch {state.best_epoch:g}) and the last checkpoint are kept"
        if state.best_epoch is not None
        else "no weights are kept"
    )
    Progress(False).print(
        f"[red]training diverged[/] in epoch {state.epoch + 1} (by step {state.step}): weights "
        f"became NaN or infinite; stopped, {kept}. Try a lower --lr or --grad-clip 1.0"
    )


def _rate(state: TrainState) -> float:
    return state.train_images / state.train_seconds if state.train_seconds > 0 else 0.0


def _epoch_line(row, state: TrainState, train_metrics, val_metrics) -> str:
    text = f"epoch {row['epoch']:g}/{state.planned_epochs}  " + format_metrics(
        train_metrics, "train "
    )
    if val_metrics:
        text += "  |  " + format_metrics(val_metrics, "val ")
    text += f"  |  {row['images_per_second']:.0f} img/s"
    if row.get("train_from_batch"):
        text += f"  (train: batches {row['train_from_batch']}.. of this resumed epoch only)"
    if row.get("best"):
        text += "  *"
    return text


def _fit_schedule_to_budget(
    fabric,
    state: TrainState,
    schedule: Schedule,
    steps_per_epoch: int,
    epoch_start: float,
    deadline: float,
) -> None:
    """Shrink the planned epochs so that the learning rate anneals before --max-minutes ends.

    Decided on rank 0 from its epoch time and broadcast, so every rank keeps
    the same schedule.
    """
    epoch_seconds = time.monotonic() - epoch_start
    remaining = deadline - time.monotonic()
    fits = state.epoch + int(remaining * 0.97 // max(epoch_seconds, 1e-6))
    planned = (
        max(state.epoch + 1, min(state.planned_epochs, fits))
        if state.epoch < state.planned_epochs
        else state.planned_epochs
    )
    if fabric.world_size > 1:
        planned = int(fabric.broadcast(planned, src=0))
    if planned < state.planned_epochs:
        state.planned_epochs = planned
        schedule.total_steps = planned * steps_per_epoch


@dataclass
class _Resumable:
    """Everything a checkpoint saves and a resume restores, besides the config."""

    model: Any  # the raw (unwrapped) model
    optimizer: Any
    scheduler: Any
    ema: EMA | None
    state: TrainState
    schedule: Schedule
    fabric: Any


def _checkpoint(parts: _Resumable, config: TrainConfig) -> dict[str, Any]:
    model, optimizer, scheduler, ema = parts.model, parts.optimizer, parts.scheduler, parts.ema
    state, schedule, fabric = parts.state, parts.schedule, parts.fabric
    return {
        "format": CHECKPOINT_FORMAT,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "schedule_total_steps": schedule.total_steps,
        "ema": ema.state_dict() if ema is not None else None,
        # fp16's loss scale and growth count: a resume that started again from the initial
        # scale would skip steps (overflow) or train at another scale than an unbroken run
        # (the precision plugin's state: the GradScaler's under 16-mixed, empty otherwise)
        "scaler": fabric.strategy.precision.state_dict() or None,
        "state": state.to_dict(),
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        },
        "config": config.model_dump(mode="json"),
    }


def _restore(checkpoint, parts: _Resumable, source) -> None:
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ArtstyleError(
            f"{source}: checkpoint format {checkpoint.get('format')!r} is not understood by this version"
        )
    model, optimizer, scheduler, ema = parts.model, parts.optimizer, parts.scheduler, parts.ema
    state, schedule, fabric = parts.state, parts.schedule, parts.fabric
    runs.load_state(model, checkpoint["model"], source=source)
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    schedule.total_steps = int(checkpoint["schedule_total_steps"])
    if ema is not None:
        if checkpoint.get("ema") is None:
            raise ArtstyleError(f"{source} was trained without --ema; resume it without --ema")
        ema.load_state_dict(checkpoint["ema"])
    if checkpoint.get("scaler"):
        fabric.strategy.precision.load_state_dict(checkpoint["scaler"])
    for key, value in checkpoint["state"].items():
        setattr(state, key, value)
    torch.set_rng_state(checkpoint["rng"]["torch"].cpu())
    if fabric.device.type == "cuda" and checkpoint["rng"]["cuda"]:
        with contextlib.suppress(RuntimeError, IndexError):
            torch.cuda.set_rng_state(
                checkpoint["rng"]["cuda"][fabric.local_rank % len(checkpoint["rng"]["cuda"])]
            )
