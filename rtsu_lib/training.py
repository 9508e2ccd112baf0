"""Training: SGD with momentum, step lr schedule, batched augmentation, checkpoints and resume.

A run is deterministic on CPU for a given seed: the data order and the augmentation draw
from one ``torch.Generator``, dropout from the global RNG, and both states are saved in
every checkpoint so that a resumed run continues exactly where it stopped.
"""

import logging
import math
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .faults import crash_point
from .storage import atomic_write

log = logging.getLogger(__name__)

EVAL_BATCH_SIZE = 500
CROP_PADDING = 4


@dataclass(frozen=True)
class TrainSettings:
    num_epochs: int
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_milestones: tuple = ()  # epochs (0-based) from which the lr is multiplied by lr_gamma once more
    lr_gamma: float = 0.1
    augment: bool = False  # random horizontal flip + pad-4 random crop
    seed: int = 0

    def lr_at(self, epoch: int) -> float:
        steps = sum(1 for milestone in self.lr_milestones if epoch >= milestone)
        return self.lr * self.lr_gamma ** steps


class TrainingDiverged(RuntimeError):
    def __init__(self, epoch, loss):
        super().__init__(f"training diverged at epoch {epoch}: mean train loss {loss}")
        self.epoch, self.loss = epoch, loss


def choose_device(preferred: str | None = None) -> torch.device:
    """The given device, else cuda, then mps, then cpu."""
    if preferred:
        return torch.device(preferred)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def flip_and_crop(x: torch.Tensor, generator: torch.Generator, padding: int = CROP_PADDING) -> torch.Tensor:
    """Random horizontal flip and random crop after zero padding, on a whole (B, C, H, W) batch.

    Zero padding is in the space the model sees (after normalisation zero is the mean input).
    Returns a new tensor.
    """
    offsets, flips = sample_flip_and_crop(len(x), generator, padding)
    return apply_flip_and_crop(x, offsets.to(x.device), flips.to(x.device), padding)


def sample_flip_and_crop(batch: int, generator: torch.Generator, padding: int = CROP_PADDING):
    """Crop offsets (2, B) as (row, col) and flip flags (B,), drawn on the CPU from ``generator``."""
    offsets = torch.randint(0, 2 * padding + 1, (2, batch), generator=generator)
    flips = torch.rand(batch, generator=generator) < 0.5
    return offsets, flips


def apply_flip_and_crop(x, offsets, flips, padding: int = CROP_PADDING) -> torch.Tensor:
    """One gather does both: each image's rows and columns are read at its own offsets,
    its columns in reverse order when it is flipped. ``offsets`` and ``flips`` are on x's device."""
    batch, _, height, width = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    rows = offsets[0, :, None] + torch.arange(height, device=x.device)
    cols = torch.arange(width, device=x.device).expand(batch, width)
    cols = torch.where(flips[:, None], cols.flip(1), cols) + offsets[1, :, None]
    index_b = torch.arange(batch, device=x.device)[:, None, None, None]
    index_c = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[index_b, index_c, rows[:, None, :, None], cols[:, None, None, :]]


class Trainer:
    """Trains ``model`` on tensors held in memory (on the device when it is not the CPU).

    Inside an epoch nothing waits for the device: the data order and every batch's augmentation
    are drawn on the CPU at the start of the epoch (in the order a per-batch draw would use) and
    moved to the device once; losses and accuracies are summed on the device and read at the end.
    ``compile`` wraps the model in ``torch.compile`` (None: only on CUDA, where it also records
    CUDA graphs); it changes the speed, not the parameters or the checkpoints.
    """

    def __init__(self, model, settings: TrainSettings, device=None, checkpoint_path=None, compile=None):
        self.settings = settings
        self.device = choose_device(device)
        self.model = model.to(self.device, memory_format=torch.channels_last)
        self.compiled = self.device.type == "cuda" if compile is None else bool(compile)
        self.forward = _compiled(self.model, self.device) if self.compiled else self.model
        self.optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum,
                                         weight_decay=settings.weight_decay)
        self.checkpoint_path = checkpoint_path
        self.generator = torch.Generator().manual_seed(settings.seed)
        torch.manual_seed(settings.seed)
        self.history = []
        self.autocast = self.device.type == "cuda"

    def fit(self, train_x, train_y, test_x, test_y, on_epoch=None) -> list[dict]:
        self._resume()
        train_x, train_y = train_x.to(self.device), train_y.to(self.device)
        test_x, test_y = test_x.to(self.device), test_y.to(self.device)
        for epoch in range(len(self.history), self.settings.num_epochs):
            start = time.perf_counter()
            train_loss, train_acc = self._train_epoch(epoch, train_x, train_y)
            test_loss, test_acc = self.evaluate(test_x, test_y)
            if not math.isfinite(test_loss):
                raise TrainingDiverged(epoch + 1, f"{train_loss} (test loss {test_loss})")
            record = {"epoch": epoch + 1, "lr": self.settings.lr_at(epoch), "train_loss": train_loss,
                      "train_acc": train_acc, "test_loss": test_loss, "test_acc": test_acc,
                      "seconds": time.perf_counter() - start}
            self.history.append(record)
            self._save_checkpoint()
            log.info("epoch %3d/%d  lr %.4g  train loss %.4f acc %.4f  test loss %.4f acc %.4f  %.1fs",
                     epoch + 1, self.settings.num_epochs, record["lr"], train_loss, train_acc,
                     test_loss, test_acc, record["seconds"])
            if on_epoch is not None:
                on_epoch(record)
        return self.history

    def _train_epoch(self, epoch, train_x, train_y):
        settings = self.settings
        for group in self.optimizer.param_groups:
            group["lr"] = settings.lr_at(epoch)
        self.model.train()
        order = torch.randperm(len(train_x), generator=self.generator)
        sizes = [len(batch) for batch in order.split(settings.batch_size)]
        augmentation = self._draw_augmentation(sizes)
        batches = order.to(self.device).split(settings.batch_size)
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        for number in _progress(range(len(batches)), f"epoch {epoch + 1}/{settings.num_epochs}"):
            index = batches[number]
            x, y = train_x[index], train_y[index]
            if augmentation is not None:
                x = apply_flip_and_crop(x, augmentation[0][number], augmentation[1][number])
            x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
                logits = self.forward(x)
                loss = F.cross_entropy(logits, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            loss_sum += loss.detach().float() * len(y)
            correct += (logits.argmax(1) == y).sum()
            crash_point("batch")  # RTSU_CRASH_AT=batch:<n> (tests) kills the process here
        mean_loss = loss_sum.item() / len(order)
        if not math.isfinite(mean_loss):
            raise TrainingDiverged(epoch + 1, mean_loss)
        return mean_loss, correct.item() / len(order)

    def _draw_augmentation(self, sizes):
        """Each batch's crop offsets and flips for one epoch, on the device (None without augmentation).

        Drawn batch after batch from the run's generator, so the stream (and so the result) is the
        one a draw inside the loop would give; moved to the device in one copy per tensor.
        """
        if not self.settings.augment:
            return None
        draws = [sample_flip_and_crop(size, self.generator) for size in sizes]
        offsets = torch.cat([offsets for offsets, _ in draws], dim=1).to(self.device)
        flips = torch.cat([flips for _, flips in draws]).to(self.device)
        return offsets.split(sizes, dim=1), flips.split(sizes)

    @torch.no_grad()
    def evaluate(self, x, y):
        """Mean cross-entropy and accuracy of the model in eval mode."""
        self.model.eval()
        loss_sum, correct = 0.0, 0
        for begin in range(0, len(x), EVAL_BATCH_SIZE):
            xb = x[begin:begin + EVAL_BATCH_SIZE].to(self.device).contiguous(memory_format=torch.channels_last)
            yb = y[begin:begin + EVAL_BATCH_SIZE].to(self.device)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
                logits = self.forward(xb).float()
            loss_sum += F.cross_entropy(logits, yb, reduction="sum").item()
            correct += (logits.argmax(1) == yb).sum().item()
        return loss_sum / max(len(x), 1), correct / max(len(x), 1)

    def _save_checkpoint(self):
        if self.checkpoint_path is None:
            return
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "history": self.history, "generator": self.generator.get_state(),
                 "torch_rng": torch.get_rng_state(), "settings": repr(self.settings)}
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        with atomic_write(self.checkpoint_path, "wb") as stream:
            torch.save(state, stream)

    def _resume(self):
        if self.checkpoint_path is None or not self.checkpoint_path.exists():
            return
        try:
            state = torch.load(self.checkpoint_path, map_location=self.device, weights_only=True)
        except Exception as error:  # a checkpoint we cannot read is discarded, never trusted
            log.warning("discarding unreadable checkpoint %s (%s); starting from epoch 1", self.checkpoint_path,
                        error)
            return
        if state.get("settings") != repr(self.settings):
            log.warning("checkpoint %s was written for other settings; starting from epoch 1",
                        self.checkpoint_path)
            return
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.history = list(state["history"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        log.info("resumed from %s after epoch %d", self.checkpoint_path, len(self.history))


@torch.no_grad()
def recalibrate_batchnorm(model: torch.nn.Module, x: torch.Tensor, batch_size: int,
                          generator: torch.Generator | None = None) -> torch.nn.Module:
    """Re-estimate every BatchNorm layer's running mean and variance on ``x`` (in the model's input space).

    During training the running statistics are an exponential average over batches seen while the
    weights still moved, so after a short run at a constant learning rate they lag the final
    weights. Here each layer's statistics become the plain average over batches of ``batch_size``
    of ``x`` for the weights as they are ("precise BN"); dropout stays off and no weight changes.
    The batches are drawn in a random order (``generator``), as in training: data sorted by class
    would give class-pure batches and too small a variance. The model is returned in eval mode.
    """
    layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    model.eval()
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average over the batches below
        layer.train()
    try:
        order = torch.randperm(len(x), generator=generator)
        for begin in range(0, len(x), batch_size):
            model(x[order[begin:begin + batch_size]].contiguous(memory_format=torch.channels_last))
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
            layer.eval()
    return model


def _compiled(model, device):
    """``torch.compile`` of the model; on CUDA with CUDA graphs (mode ``reduce-overhead``)."""
    import torch._inductor.config

    # NOTE: without this, compiled dropout draws from inductor's own random stream, so a compiled
    # run with dropout would not match the eager run of the same seed.
    torch._inductor.config.fallback_random = True
    mode = "reduce-overhead" if device.type == "cuda" else None
    return torch.compile(model, mode=mode)


def _progress(iterable, description):
    """A tqdm bar on a terminal; nothing otherwise (an epoch line is logged instead)."""
    if not sys.stderr.isatty():
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=description, leave=False, unit="batch")
