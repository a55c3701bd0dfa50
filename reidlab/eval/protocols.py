"""Evaluation protocols as named data, and the registry of every dataset's protocols.

A :class:`Protocol` says *everything* that changes a published number: which splits and
modalities form the query and gallery sides, how a multi-modal tuple becomes one feature,
which gallery items are junk for a query, how the gallery is sampled, how many seeded trials
are run and how they are aggregated. Every :class:`~reidlab.eval.scoring.EvalResult` carries
the protocol's ``name``.

Names are ``<dataset>/<variant>`` in lower case: ``rgbn300/rgb-nir`` (multi-modal, fused),
``rgbn300/rgb2nir`` (cross-modal, query RGB vs gallery NIR), ``hoss/opt2sar`` ...
``list_protocols()`` lists them; ``reidlab protocols`` prints them.

Fusion of a modality set into one feature per record:

* ``sum``    element-wise sum of the per-modality rows (what HAMNet / MSN / Kamenou do);
* ``mean``   element-wise mean; used for missing-modality protocols so that a 2-modality query
  and a 3-modality gallery feature have comparable magnitudes;
* ``concat`` concatenation in canonical modality order (same modality count on both sides);
* ``method`` the method's own fused embedding, rows with key ``fused_key(mods)``;
* ``each``   no fusion: every row whose key is one of the modalities is its own item
  (unaligned data, e.g. HOSS All->All with RGB and SAR images together).

Junk rules (gallery items removed from a query's ranked list before scoring):

* ``same_cam``   same ID and same camera (Market-1501 rule);
* ``same_scene`` same ID and same scene (MSVR310 papers);
* ``none``       nothing removed;
* ``cam_group``  every gallery item whose camera is in the query camera's group, any ID
  (SYSU-MM01 official); CMC is then computed on the ID-deduplicated list, mAP/mINP on the
  raw list.

With ``drop_negative_pid`` (default) gallery items with ``pid < 0`` are junk for every
query, whatever the rule (Market-1501 convention for its ``-1`` "junk" images).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from reidlab import MODALITIES
from reidlab.data.names import DATASETS

FUSIONS = ("sum", "mean", "concat", "method", "each")
JUNK_RULES = ("same_cam", "same_scene", "none", "cam_group")
SAMPLINGS = ("all", "single_shot", "multi_shot")
AGGREGATIONS = ("mean_std",)


@dataclass(frozen=True)
class Protocol:
    """One named evaluation protocol (see the module docstring for the vocabulary).

    ``cam_groups`` maps a camera id to a group id (only for ``junk="cam_group"``); it is
    stored as a sorted tuple of ``(cam, group)`` pairs so that the protocol stays hashable,
    read it back with :attr:`cam_group_map`. ``shots`` is the number of gallery items kept per
    ID for ``multi_shot`` (1 for ``single_shot``). Trial ``t`` samples with seed ``seed + t``.
    ``query_split_aliases`` are split names tried, in order, when a feature set lacks
    ``query_split`` (MSVR310's ``query3`` is also exposed as ``query``); ``gallery_split_aliases``
    likewise for ``gallery_split`` (UCM-VeID: the paper's ``test`` split divided by modality, or
    the alternative ``query`` / ``gallery`` folders).
    """

    name: str
    dataset: str
    query_split: str
    gallery_split: str
    query_modalities: tuple[str, ...]
    gallery_modalities: tuple[str, ...]
    fusion: str = "sum"
    junk: str = "same_cam"
    cam_groups: tuple[tuple[int, int], ...] | Mapping[int, int] | None = None
    gallery_sampling: str = "all"
    shots: int = 1
    trials: int = 1
    seed: int = 0
    description: str = ""
    aggregation: str = "mean_std"
    drop_negative_pid: bool = True
    query_split_aliases: tuple[str, ...] = ()
    gallery_split_aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        set_("query_modalities", _canon(self.query_modalities, self.name))
        set_("gallery_modalities", _canon(self.gallery_modalities, self.name))
        set_("query_split_aliases", tuple(self.query_split_aliases))
        set_("gallery_split_aliases", tuple(self.gallery_split_aliases))
        if isinstance(self.cam_groups, Mapping):
            set_("cam_groups", tuple(sorted((int(k), int(v)) for k, v in self.cam_groups.items())))
        for what, value, allowed in (("fusion", self.fusion, FUSIONS), ("junk", self.junk, JUNK_RULES),
                                     ("gallery_sampling", self.gallery_sampling, SAMPLINGS),
                                     ("aggregation", self.aggregation, AGGREGATIONS)):
            if value not in allowed:
                raise ValueError(f"protocol {self.name!r}: {what}={value!r}; choose one of {allowed}")
        if self.junk == "cam_group" and not self.cam_groups:
            raise ValueError(f"protocol {self.name!r}: junk='cam_group' needs a cam_groups map {{cam: group}}")
        if self.gallery_sampling == "single_shot" and self.shots != 1:
            set_("shots", 1)
        if self.gallery_sampling == "multi_shot" and self.shots < 1:
            raise ValueError(f"protocol {self.name!r}: multi_shot needs shots >= 1, got {self.shots}")
        if self.trials < 1:
            raise ValueError(f"protocol {self.name!r}: trials must be >= 1, got {self.trials}")
        if self.gallery_sampling == "all" and self.trials != 1:
            raise ValueError(f"protocol {self.name!r}: trials > 1 only make sense with gallery sampling")

    @property
    def cam_group_map(self) -> dict[int, int]:
        """``{camid: group}`` for ``junk="cam_group"`` (empty otherwise)."""
        return dict(self.cam_groups or ())

    @property
    def splits(self) -> tuple[str, str]:
        return (self.query_split, self.gallery_split)

    def describe(self) -> str:
        """One line: direction, fusion, junk rule, sampling, trials."""
        q, g = "+".join(self.query_modalities), "+".join(self.gallery_modalities)
        samp = self.gallery_sampling if self.gallery_sampling != "multi_shot" else f"multi_shot({self.shots}/ID)"
        fusion = self.fusion if (len(self.query_modalities) > 1 or len(self.gallery_modalities) > 1) else "-"
        return (f"{self.query_split}[{q}] -> {self.gallery_split}[{g}]; fusion={fusion}; junk={self.junk}; "
                f"gallery={samp}; trials={self.trials}")


def _canon(mods: Iterable[str] | str, name: str) -> tuple[str, ...]:
    mods = (mods,) if isinstance(mods, str) else tuple(mods)
    unknown = set(mods) - set(MODALITIES)
    if unknown or not mods:
        raise ValueError(f"protocol {name!r}: modalities {mods} invalid; known: {MODALITIES}")
    return tuple(m for m in MODALITIES if m in mods)


_REGISTRY: dict[str, Protocol] = {}
_ALIASES: dict[str, str] = {}


def register_protocol(protocol: Protocol, *, aliases: Iterable[str] = (), overwrite: bool = False) -> Protocol:
    """Add ``protocol`` to the registry (under its ``name`` and any ``aliases``); returns it."""
    if protocol.name in _REGISTRY and not overwrite:
        raise ValueError(f"protocol {protocol.name!r} is already registered (pass overwrite=True to replace it)")
    _REGISTRY[protocol.name] = protocol
    for a in aliases:
        _ALIASES[a] = protocol.name
    return protocol


def get_protocol(name: str | Protocol) -> Protocol:
    """The registered protocol called ``name`` (or an alias such as ``rgbn300/v2i``)."""
    if isinstance(name, Protocol):
        return name
    key = _ALIASES.get(name.lower(), name.lower())
    try:
        return _REGISTRY[key]
    except KeyError:
        raise KeyError(f"no protocol {name!r}; `reidlab protocols` lists them "
                       f"(e.g. {sorted(_REGISTRY)[:4]})") from None


def list_protocols(dataset: str | None = None) -> list[Protocol]:
    """Registered protocols, in registration order, optionally of one ``dataset``."""
    if dataset is not None and dataset not in {p.dataset for p in _REGISTRY.values()}:
        raise KeyError(f"no protocols for dataset {dataset!r}; datasets: {sorted({p.dataset for p in _REGISTRY.values()})}")
    return [p for p in _REGISTRY.values() if dataset is None or p.dataset == dataset]


# ----------------------------------------------------------------------------- registrations


def _mm(mods: Iterable[str]) -> str:
    return "-".join(m for m in MODALITIES if m in set(mods))


def _register_aligned(dataset: str, mods: tuple[str, ...], junk: str, *, suffix: str = "",
                      query_split: str = "query", aliases_split: tuple[str, ...] = (),
                      cross: bool = True, subsets: bool = True, missing: bool = False,
                      note: str = "") -> None:
    """Single modalities, fused subsets, cross pairs and missing-modality queries of an aligned dataset."""
    kw = dict(dataset=dataset, query_split=query_split, gallery_split="gallery", junk=junk,
              query_split_aliases=aliases_split)
    sets: list[tuple[str, ...]] = []
    if subsets:
        sets += [(m,) for m in mods]
        if len(mods) == 3:
            sets += [tuple(s) for s in ((mods[0], mods[1]), (mods[0], mods[2]), (mods[1], mods[2]))]
    sets.append(mods)
    seen = set()
    for s in sets:
        if s in seen:
            continue
        seen.add(s)
        what = "single-modality" if len(s) == 1 else "multi-modal (sum-fused)"
        register_protocol(Protocol(name=f"{dataset}/{_mm(s)}{suffix}", query_modalities=s, gallery_modalities=s,
                                   fusion="sum", description=f"{what} {'+'.join(s).upper()} -> same; {note}".strip(), **kw))
    if cross:
        for a in mods:
            for b in mods:
                if a != b:
                    aliases = []
                    if dataset == "rgbn300":
                        aliases = [f"{dataset}/v2i"] if a == "rgb" else [f"{dataset}/i2v"]
                    register_protocol(Protocol(name=f"{dataset}/{a}2{b}{suffix}", query_modalities=(a,),
                                               gallery_modalities=(b,), description=f"cross-modal {a.upper()} query -> "
                                               f"{b.upper()} gallery; {note}".strip(), **kw), aliases=aliases)
    if missing:
        for drop in mods:
            q = tuple(m for m in mods if m != drop)
            register_protocol(Protocol(name=f"{dataset}/missing-{drop}{suffix}", query_modalities=q,
                                       gallery_modalities=mods, fusion="mean",
                                       description=f"missing-modality: {'+'.join(q).upper()} query (mean-fused) -> "
                                       f"full {'+'.join(mods).upper()} gallery (mean-fused); {note}".strip(), **kw))
        for keep in mods:
            register_protocol(Protocol(name=f"{dataset}/only-{keep}{suffix}", query_modalities=(keep,),
                                       gallery_modalities=mods, fusion="mean",
                                       description=f"missing-modality: {keep.upper()}-only query -> full "
                                       f"{'+'.join(mods).upper()} gallery (mean-fused); {note}".strip(), **kw))


_RGBNT = ("rgb", "nir", "tir")
_register_aligned("rgbn300", ("rgb", "nir"), "same_cam", note="junk: same ID + same camera")
# The method's own fused test embedding (e.g. HAMNet's class-aware weighting, the public code's
# test feature), next to the sum-fused protocol of the paper.
register_protocol(Protocol(name="rgbn300/rgb-nir-method", dataset="rgbn300", query_split="query",
                           gallery_split="gallery", junk="same_cam", query_modalities=("rgb", "nir"),
                           gallery_modalities=("rgb", "nir"), fusion="method",
                           description="multi-modal RGB+NIR -> same, the method's own fused embedding "
                                       "(fused:rgb+nir rows, e.g. HAMNet class-aware); junk: same ID + same camera"))
_register_aligned("rgbnt100", _RGBNT, "same_cam", missing=True, note="junk: same ID + same camera")
_register_aligned("msvr310", _RGBNT, "same_scene", query_split="query3", aliases_split=("query",),
                  note="junk: same ID + same scene (MSVR310 papers)")
_register_aligned("msvr310", _RGBNT, "same_cam", suffix="@samecam", query_split="query3", aliases_split=("query",),
                  subsets=False, cross=False, note="junk: same ID + same camera (NOT comparable with the same-scene rule)")
_register_aligned("wmveid863", _RGBNT, "same_cam", note="junk: same ID + same camera")
# PORSCHE's public code evaluates MSVR310 visible <-> near-infrared with the Market rule (same ID + same
# camera), not the same-scene rule of the MSVR310 papers: registered under its own name beside the scene rule.
for _q, _g in (("rgb", "nir"), ("nir", "rgb")):
    register_protocol(Protocol(
        name=f"msvr310/{_q}2{_g}@samecam", dataset="msvr310", query_split="query3", gallery_split="gallery",
        query_split_aliases=("query",), query_modalities=(_q,), gallery_modalities=(_g,), junk="same_cam",
        description=f"cross-modal {_q.upper()} query -> {_g.upper()} gallery as PORSCHE's public code evaluates it; "
                    "junk: same ID + same camera (NOT comparable with msvr310/" + f"{_q}2{_g}, same-scene rule)"))

# UCM-VeID (HWDNet paper): the test set is divided *by modality* -- RGB2IR: every test RGB image
# is a query and every test IR image the gallery; IR2RGB the reverse. Nothing is removed as junk
# (RGB and IR videos are numbered alike, so a same-camera rule would drop true cross-modal
# matches). Single-shot = one random gallery image per ID; the number of trials (10, seeds 0..9)
# and multi-shot = every gallery image of each ID (one pass) are reidlab's reading (inferred): the
# paper states neither. The ``test`` split is tried first, then the ``query`` / ``gallery`` folders.
UCMVEID_SINGLE_SHOT_TRIALS = 10
for _q, _g in (("rgb", "tir"), ("tir", "rgb")):
    _dir = "RGB2IR" if _q == "rgb" else "IR2RGB"
    for _samp, _tag in (("single_shot", "single"), ("all", "multi")):
        _trials = UCMVEID_SINGLE_SHOT_TRIALS if _samp == "single_shot" else 1
        _how = (f"one random gallery image per ID, {_trials} seeded trials (seeds 0..{_trials - 1}; inferred), "
                "mean +- std" if _samp == "single_shot" else "every gallery image of each ID (inferred)")
        register_protocol(Protocol(
            name=f"ucmveid/{_q}2{_g}-{_tag}", dataset="ucmveid", query_split="test", gallery_split="test",
            query_split_aliases=("query",), gallery_split_aliases=("gallery",),
            query_modalities=(_q,), gallery_modalities=(_g,), junk="none", gallery_sampling=_samp,
            shots=1, trials=_trials, seed=0,
            description=f"{_dir}: every test {_q.upper()} image a query -> test {_g.upper()} images, {_how}; "
                        "junk: none (paper)"),
            aliases=[f"ucmveid/{_dir.lower()}-{_tag}"])

register_protocol(Protocol(name="hoss/all", dataset="hoss", query_split="query", gallery_split="gallery",
                           query_modalities=("rgb", "sar"), gallery_modalities=("rgb", "sar"), fusion="each",
                           junk="none", description="All->All: optical and SAR images together on both sides, "
                           "nothing removed (TransOSS)"))
register_protocol(Protocol(name="hoss/opt2sar", dataset="hoss", query_split="subset/O2S/query",
                           gallery_split="subset/O2S/gallery", query_modalities=("rgb",), gallery_modalities=("sar",),
                           junk="none", description="Optical->SAR on the subset/O2S folders, nothing removed"),
                  aliases=["hoss/o2s"])
register_protocol(Protocol(name="hoss/sar2opt", dataset="hoss", query_split="subset/S2O/query",
                           gallery_split="subset/S2O/gallery", query_modalities=("sar",), gallery_modalities=("rgb",),
                           junk="none", description="SAR->Optical on the subset/S2O folders, nothing removed"),
                  aliases=["hoss/s2o"])
