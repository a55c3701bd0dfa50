"""DDP: set-up from torchrun's environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``), agreement
points where any rank's failure stops every rank, and the collectives the engine uses (gathering
sharded features, averaging logged losses, SyncBatchNorm conversion)."""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    """Where this process stands. ``owns_group``: this module created the process group."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_type: str) -> DistInfo:
    """Initialise the process group when launched by torchrun with more than one process.

    Backend: nccl on CUDA, gloo on the CPU. A single process (plain ``python``) gets a
    no-op :class:`DistInfo`.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if dist.is_initialized():
        return DistInfo(rank=dist.get_rank(), local_rank=local_rank, world_size=dist.get_world_size())
    backend = "nccl" if device_type == "cuda" else "gloo"
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend)
    return DistInfo(rank=rank, local_rank=local_rank, world_size=world, owns_group=True)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


# -- failures that stop every rank ---------------------------------------------------------------
class RankFailed(RuntimeError):
    """Raised on every rank that did not fail itself when another rank failed at an agreement point.

    The message names the failing rank(s), where, and their exception (type and message). The
    failing rank reports its own exception (with its traceback); the ``reidlab`` command prints
    this one as a one-line error (``other_rank_failed``), not as a reidlab bug.
    """

    other_rank_failed = True


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def agree(info: DistInfo, where: str, error: BaseException | None = None) -> None:
    """Collective check at a point where ranks could diverge: all ranks go on, or all raise.

    Every rank reports ``error`` (None = ok) to every other (one ``all_gather_object``). When any
    rank failed, the failing rank re-raises its own exception (a note names the rank) and every
    other rank raises :class:`RankFailed` naming the failing rank and its exception, so no rank is
    left waiting in a later collective. A single process just re-raises ``error``.

    Parameters
    ----------
    info : DistInfo
    where : str
        What the ranks were doing (``"setup"``, ``"epoch 3"``...), for the message.
    error : BaseException or None
        This rank's exception, if it raised.
    """
    if not info.enabled:
        if error is not None:
            raise error
        return
    reports: list[str | None] = [None] * info.world_size
    dist.all_gather_object(reports, None if error is None else _describe(error))
    failed = [(r, msg) for r, msg in enumerate(reports) if msg is not None]
    if not failed:
        return
    summary = "; ".join(f"rank {r} failed during {where}: {msg}" for r, msg in failed)
    if error is None:
        error = RankFailed(f"{summary} (seen from rank {info.rank} of {info.world_size}; every rank stops)")
    else:
        error.add_note(f"[reidlab] rank {info.rank} of {info.world_size} failed during {where}; "
                       f"all ranks stop ({summary})")
    error._reidlab_agreed = True  # type: ignore[attr-defined]  # every rank knows: no second agreement
    raise error


@contextmanager
def all_ranks(info: DistInfo, where: str) -> Iterator[None]:
    """``with all_ranks(info, "setup"): ...`` -- run the block, then :func:`agree` on its outcome.

    The block must hold no tensor collectives (DDP forward/backward, all_reduce): a rank failing
    before one would leave the others waiting in it rather than at the agreement. Nested
    agreements are fine (they are the same kind of collective, so they pair up; an exception an
    agreement raised is not agreed on twice). A failure inside a tensor collective region (a
    training step) ends the failing process; torchrun then stops the other ranks.
    """
    try:
        yield
    except Exception as e:  # noqa: BLE001 - reported to every rank, then re-raised
        if getattr(e, "_reidlab_agreed", False):  # a nested agreement already stopped every rank
            raise
        agree(info, where, e)
        raise  # unreachable for a DDP job: agree re-raises e
    agree(info, where, None)


# -- collectives on data ---------------------------------------------------------------------------
def _comm_device() -> torch.device:
    """Where tensors for a collective must live: CUDA for nccl, the CPU for gloo."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_gather_rows(info: DistInfo, rows: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's ``rows`` (N_r, ...) in rank order, on every rank (CPU result).

    Ranks may hold different N_r; trailing dimensions and dtype must agree. Padded
    ``all_gather`` (no pickling), so large feature matrices travel as tensors.
    """
    if not info.enabled:
        return rows.cpu()
    dev = _comm_device()
    n = torch.tensor([rows.shape[0]], dtype=torch.int64, device=dev)
    sizes = [torch.zeros_like(n) for _ in range(info.world_size)]
    dist.all_gather(sizes, n)
    counts = [int(s.item()) for s in sizes]
    top = max(max(counts), 1)  # gloo and nccl want non-empty buffers
    pad = torch.zeros((top, *rows.shape[1:]), dtype=rows.dtype, device=dev)
    pad[: rows.shape[0]] = rows.to(dev)
    bufs = [torch.empty_like(pad) for _ in range(info.world_size)]
    dist.all_gather(bufs, pad)
    return torch.cat([b[:c].cpu() for b, c in zip(bufs, counts)])


def all_gather_objects(info: DistInfo, obj: Any) -> list[Any]:
    """Every rank's (small, picklable) ``obj`` in rank order; ``[obj]`` for a single process."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_buffers(info: DistInfo, model: torch.nn.Module) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics...) to every rank.

    DDP keeps parameters equal but each rank's last forward updates its own running statistics,
    so without this the ranks would embed with different models (and differ from the saved one,
    which is rank 0's).
    """
    if not info.enabled:
        return
    dev = _comm_device()
    for buf in model.buffers():
        if dev.type == buf.device.type:
            dist.broadcast(buf.data, src=0)
        else:
            tmp = buf.data.to(dev)
            dist.broadcast(tmp, src=0)
            buf.data.copy_(tmp)


def mean_over_ranks(info: DistInfo, values: Mapping[str, float]) -> dict[str, float]:
    """Average each entry of ``values`` over the ranks that report it (every rank gets the result).

    Used for the logged epoch losses, so the history shows the mean over all ranks' batches rather
    than rank 0's alone.
    """
    gathered = all_gather_objects(info, dict(values))
    keys = sorted({k for g in gathered for k in g})
    out = {}
    for k in keys:
        vals = [float(g[k]) for g in gathered if k in g]
        out[k] = sum(vals) / len(vals)
    return out


def batch_aligned_shard(n: int, batch_size: int, rank: int, world_size: int) -> tuple[int, int]:
    """Contiguous slice ``[lo, hi)`` of ``n`` items for ``rank``, cut at multiples of ``batch_size``.

    Whole batches are dealt out (ceil(batches / world_size) per rank, the last ranks may get fewer or
    none), so every rank's batches are exactly the single-process batches and concatenating the
    ranks' outputs in rank order reproduces the single-process output.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n_batches = -(-n // batch_size)
    per_rank = -(-n_batches // world_size) if n_batches else 0
    lo = min(n, rank * per_rank * batch_size)
    hi = min(n, (rank + 1) * per_rank * batch_size)
    return lo, hi


# -- SyncBatchNorm -----------------------------------------------------------------------------------
def convert_sync_bn(model: torch.nn.Module) -> tuple[torch.nn.Module, int]:
    """Replace every BatchNorm*d of ``model`` by ``torch.nn.SyncBatchNorm`` (same parameters/buffers).

    Returns
    -------
    (model, n)
        The converted model (the same object unless ``model`` is itself a BatchNorm) and the number
        of modules converted. State-dict keys are unchanged, so checkpoints stay interchangeable.
    """
    n = sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and not isinstance(m, torch.nn.SyncBatchNorm)
            for m in model.modules())
    return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model), n
