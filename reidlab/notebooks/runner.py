"""Run the ordered notebook suite headlessly with papermill and summarise it.

``run_notebooks`` executes ``notebooks/0*.ipynb`` (sorted by name) one after the other:

* each notebook gets the common parameters ``preset``, ``seed``, ``out_dir`` (=
  ``OUT/<stem>/``, its own folder) and ``runs_dir`` (= ``OUT/runs``, shared so that later
  notebooks reuse earlier training runs), plus its own entries from the params YAML;
  only names that the notebook's ``parameters`` cell assigns are passed (others are
  reported as ignored, with a warning for the YAML ones), so notebooks written by others
  never receive a name they do not know;
* the executed copy goes to ``OUT/<stem>.ipynb`` and the key results the notebook recorded
  with :func:`reidlab.notebooks.record_result` are read from ``OUT/<stem>/results.json``;
* a failing notebook is reported with the failing cell's source and traceback, and the
  suite goes on with the next one; :attr:`SuiteSummary.ok` is False at the end.

Params YAML (``notebooks/params/<preset>.yaml``)::

    common: {seed: 0}                  # optional: for every notebook that defines the name
    05_ranked_lists: {k: 5, epochs: 1} # notebook stem -> parameters
    07_x: {skip: "why, and the command that runs it"}   # not run: status "skipped" in the summary

``skip`` is the runner's, never passed to the notebook; ``--only 07`` (or ``--set 07_x.skip=null``)
runs a skipped notebook.

The summary is written as ``OUT/summary.json`` and ``OUT/summary.md``. Everything in it
except the ``seconds`` fields depends only on the notebooks, their parameters and their
(seeded) computations: two CPU runs with the same parameters give the same tables.
"""
from __future__ import annotations

import ast
import json
import os
import re
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import nbformat
import yaml
from tqdm.auto import tqdm

from reidlab.notebooks import RESULTS_ENV, RESULTS_FILENAME, load_results

COMMON_PARAMS = ("preset", "seed", "out_dir", "runs_dir")
PRESETS = ("smoke", "demo", "paper")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class NotebookError:
    """Where and why a notebook failed. ``cell_index`` counts all cells from 0 (the
    injected-parameters cell included); ``source`` is that cell's code."""

    cell_index: int | None
    exec_count: int | None
    source: str
    ename: str
    evalue: str
    traceback: str


CLAIMS_RESULT = "claims"  # the key-result name under which notebooks record their checked claims


@dataclass
class NotebookRun:
    """One notebook's outcome. ``status``: ``ok``, ``failed`` or ``skipped`` (by the params file's
    ``skip`` entry, whose text is ``skip_reason``); ``seconds``: wall time."""

    notebook: str
    status: str
    seconds: float
    output: str
    parameters: dict[str, Any]
    ignored_parameters: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    error: NotebookError | None = None
    skip_reason: str | None = None


SKIP_KEY = "skip"  # params-file entry of a notebook: not run, with this reason


@dataclass
class SuiteSummary:
    """The whole run: ``notebooks`` in execution order."""

    preset: str
    seed: int
    out: str
    notebooks: list[NotebookRun]
    parts: list[dict[str, Any]] = field(default_factory=list)  # timed preparation steps {name, seconds}

    @property
    def ok(self) -> bool:
        return all(n.status in ("ok", "skipped") for n in self.notebooks)

    @property
    def claims(self) -> list[dict[str, Any]]:
        """Every notebook's recorded ``claims`` lists (``{id, paper, claim, holds, delta, ci95}``), in order;
        a claim checked by two notebooks appears once (the later notebook's check wins, but a claim a
        notebook could not check, ``holds`` None, never hides one that another notebook checked)."""
        seen: dict[str, dict[str, Any]] = {}
        for n in self.notebooks:
            for c in n.results.get(CLAIMS_RESULT, []) or []:
                key = str(c.get("id"))
                if c.get("holds") is None and key in seen and seen[key].get("holds") is not None:
                    continue
                seen[key] = {**c, "notebook": n.notebook}
        return list(seen.values())

    def to_dict(self) -> dict[str, Any]:
        return {"preset": self.preset, "seed": self.seed, "ok": self.ok, "claims": self.claims,
                "parts": self.parts, "notebooks": [asdict(n) for n in self.notebooks]}

    def tables(self) -> dict[str, Any]:
        """The reproducible part of the summary (no timings, no absolute paths)."""
        return {"preset": self.preset, "seed": self.seed,
                "notebooks": [{"notebook": n.notebook, "status": n.status, "results": n.results,
                               "error": None if n.error is None else n.error.ename}
                              for n in self.notebooks]}


def parameter_names(nb_path: str | Path) -> list[str]:
    """Names assigned in the notebook's cell tagged ``parameters`` (in order).

    Raises ValueError naming the notebook when there is no such cell or it is not valid Python.
    """
    nb_path = Path(nb_path)
    nb = nbformat.read(nb_path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise ValueError(f"{nb_path}: no code cell tagged 'parameters'; add the tag to the cell "
                         "that defines the notebook's parameters")
    try:
        tree = ast.parse(cells[0].source)
    except SyntaxError as e:
        raise ValueError(f"{nb_path}: the parameters cell is not valid Python ({e})") from e
    names: list[str] = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for t in targets:
            for n in ast.walk(t):
                if isinstance(n, ast.Name) and n.id not in names:
                    names.append(n.id)
    return names


def load_params(path: str | Path | None) -> dict[str, dict[str, Any]]:
    """Read a params YAML: ``{notebook stem or "common": {name: value}}`` ({} for None)."""
    if path is None:
        return {}
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"params file {path} does not exist; see notebooks/params/*.yaml for the format")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f"{path}: expected a mapping 'notebook stem -> {{parameter: value}}' "
                         "(e.g. '05_ranked_lists: {k: 5}')")
    return {str(k): dict(v) for k, v in data.items()}


def default_params_file(preset: str, notebooks_dir: str | Path) -> Path | None:
    """``notebooks_dir/params/<preset>.yaml`` when it exists."""
    p = Path(notebooks_dir) / "params" / f"{preset}.yaml"
    return p if p.exists() else None


def discover(notebooks_dir: str | Path, only: Sequence[str] | None = None) -> list[Path]:
    """The ordered suite: ``0*.ipynb`` sorted by name; ``only`` keeps stems starting with any entry."""
    nbs = sorted(Path(notebooks_dir).glob("0*.ipynb"))
    if only:
        nbs = [p for p in nbs if any(p.stem.startswith(o) for o in only)]
    if not nbs:
        raise FileNotFoundError(f"no notebooks matching 0*.ipynb{' and ' + str(list(only)) if only else ''} "
                                f"in {notebooks_dir}")
    return nbs


def resolve_parameters(nb_path: Path, common: Mapping[str, Any], params: Mapping[str, Mapping[str, Any]]
                       ) -> tuple[dict[str, Any], list[str]]:
    """Parameters to pass to ``nb_path`` and the names left out (not in its parameters cell).

    Order of precedence: common defaults < ``params['common']`` < ``params[stem]``.
    Warns for YAML entries the notebook does not define (likely a typo).
    """
    defined = set(parameter_names(nb_path))
    wanted: dict[str, Any] = dict(common)
    wanted.update(params.get("common", {}))
    own = {k: v for k, v in params.get(nb_path.stem, {}).items() if k != SKIP_KEY}  # the runner's, not the notebook's
    wanted.update(own)
    passed = {k: v for k, v in wanted.items() if k in defined}
    ignored = sorted(k for k in wanted if k not in defined)
    unknown = sorted(k for k in own if k not in defined)
    if unknown:
        warnings.warn(f"{nb_path.name}: parameters {unknown} from the params file are not defined in its "
                      "parameters cell; ignored", stacklevel=2)
    return passed, ignored


def _error_from(exc: BaseException, output_nb: Path) -> NotebookError:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        return NotebookError(cell_index=exc.cell_index, exec_count=exc.exec_count, source=exc.source,
                             ename=exc.ename, evalue=exc.evalue,
                             traceback=_ANSI.sub("", "\n".join(exc.traceback)))
    import traceback as tb

    return NotebookError(cell_index=None, exec_count=None, source="", ename=type(exc).__name__,
                         evalue=str(exc), traceback="".join(tb.format_exception(exc)))


def prepare(params: Mapping[str, Mapping[str, Any]], preset: str, *, synth_cache: str = "data/synth",
            progress: bool = True) -> list[dict[str, Any]]:
    """Generate (or find cached) the synthetic data and the pre-trained backbone the suite will use.

    Done once before the notebooks so that ``summary.md`` shows each part's time rather than hiding
    them in the first notebook that trains. Datasets: every ``dataset`` parameter in ``params`` (and
    rgbn300); the backbone: ``common.train`` when its ``pretrained`` is ``synth[:preset]``. Returns
    ``[{name, seconds, cached}]``. Data are generated with the engine's default data seed (0), the
    seed every training run of the suite uses.
    """
    from reidlab.data.synth import ensure_synthetic

    parts: list[dict[str, Any]] = []
    datasets = ["rgbn300"] + [str(v["dataset"]) for v in params.values()
                              if isinstance(v, Mapping) and v.get("dataset")]
    for ds in dict.fromkeys(datasets):
        t0 = time.perf_counter()
        ensure_synthetic(ds, preset=preset, seed=0, cache_dir=synth_cache)
        parts.append({"name": f"synthetic data: {ds} ({preset})", "seconds": round(time.perf_counter() - t0, 2)})
    train = dict((params.get("common") or {}).get("train") or {})
    spec = train.get("pretrained")
    if isinstance(spec, str) and spec.split(":")[0] == "synth":
        from reidlab.engine.pretrain import ensure_pretrained, parse_synth_spec

        t0 = time.perf_counter()
        path = ensure_pretrained(str(train.get("backbone", "resnet50")), parse_synth_spec(spec),
                                 synth_cache=synth_cache, progress=progress)
        parts.append({"name": f"pre-training: {train.get('backbone')} ({spec}) -> {path.name}",
                      "seconds": round(time.perf_counter() - t0, 2)})
    return parts


def apply_overrides(params: Mapping[str, Mapping[str, Any]], overrides: Sequence[str]
                    ) -> dict[str, dict[str, Any]]:
    """``params`` with ``"STEM.NAME=VALUE"`` entries set (STEM a notebook stem or ``common``). VALUE is read
    as ``reidlab train``'s overrides are (:func:`reidlab.engine.config.parse_overrides`: YAML, so ``null``,
    ``[a, b]`` and ``{k: v}`` work). Raises ValueError naming a malformed entry."""
    from reidlab.engine.config import parse_overrides

    for item in overrides:
        stem, dot, name = item.partition("=")[0].partition(".")
        if "=" not in item or not (dot and stem and name):
            raise ValueError(f"--set {item!r}: expected STEM.NAME=VALUE, e.g. 06_reproduce_tables.tables=null")
    out = {k: dict(v) for k, v in params.items()}
    for stem, values in parse_overrides(overrides).items():
        out.setdefault(stem, {}).update(values)
    return out


def run_notebooks(out: str | Path, *, preset: str = "smoke", seed: int = 0,
                  params_file: str | Path | None = None, notebooks_dir: str | Path = "notebooks",
                  only: Sequence[str] | None = None, kernel_name: str = "python3",
                  cwd: str | Path | None = None, cell_timeout: int | None = None,
                  overrides: Sequence[str] = ()) -> SuiteSummary:
    """Execute the ordered suite into ``out`` and write ``summary.json`` / ``summary.md``.

    ``params_file`` defaults to ``notebooks_dir/params/<preset>.yaml`` when it exists.
    ``overrides``: ``"STEM.NAME=VALUE"`` strings (VALUE read as YAML) that replace or add entries of
    the params file, e.g. ``"06_reproduce_tables.tables=null"``; see :func:`apply_overrides`.
    ``cwd``: the kernels' working directory (default: the current one, so relative paths
    such as the synthetic-data cache resolve as on the command line).
    ``cell_timeout``: seconds per cell (None = no limit). Never raises for a failing
    notebook: check :attr:`SuiteSummary.ok`.
    """
    import papermill as pm

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {PRESETS}")
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if params_file is None:
        params_file = default_params_file(preset, notebooks_dir)
    params = apply_overrides(load_params(params_file), overrides)
    nbs = discover(notebooks_dir, only)
    stems = {p.stem for p in nbs}
    stray = sorted(k for k in params if k != "common" and k not in stems and not only)
    if stray:
        warnings.warn(f"{params_file}: entries {stray} match no notebook in {notebooks_dir}", stacklevel=2)
    if only:  # naming a notebook in --only runs it even when the params file skips it
        params = {k: {n: v for n, v in e.items() if n != SKIP_KEY} for k, e in params.items()}
    skipped = {p.stem: str(params.get(p.stem, {}).get(SKIP_KEY)) for p in nbs if params.get(p.stem, {}).get(SKIP_KEY)}
    parts = prepare({k: v for k, v in params.items() if k not in skipped}, preset)
    for part in parts:
        tqdm.write(f"{part['name']}: {part['seconds']:.1f} s")
    from reidlab.notebooks.quiet import KERNEL_LOG, papermill_log_to, quiet_kernel_manager

    log_file = out / KERNEL_LOG  # kernel start-up noise and papermill's log, not the terminal
    log_file.write_text(f"# reidlab notebooks run --preset {preset}: kernels' stdout/stderr and papermill's log\n")
    kernel_manager = quiet_kernel_manager(log_file)
    runs: list[NotebookRun] = []
    bar = tqdm(nbs, desc="notebooks", unit="nb")
    with papermill_log_to(log_file):
        runs = [_skipped(nb_path, out, skipped[nb_path.stem]) if nb_path.stem in skipped else
                _run_one(nb_path, bar, out, preset, seed, params, kernel_name, kernel_manager, cwd, cell_timeout,
                         log_file) for nb_path in bar]
    summary = SuiteSummary(preset=preset, seed=seed, out=str(out), notebooks=runs, parts=parts)
    write_summary(summary, out)
    return summary


def _skipped(nb_path: Path, out: Path, reason: str) -> NotebookRun:
    tqdm.write(f"{nb_path.stem}: skipped ({reason})")
    return NotebookRun(notebook=nb_path.stem, status="skipped", seconds=0.0, output=str(out / nb_path.name),
                       parameters={}, skip_reason=reason)


def _run_one(nb_path: Path, bar, out: Path, preset: str, seed: int, params: Mapping[str, Mapping[str, Any]],
             kernel_name: str, kernel_manager: type, cwd: str | Path | None, cell_timeout: int | None,
             log_file: Path) -> NotebookRun:
    """Execute one notebook of the suite (see :func:`run_notebooks`); never raises for its failure."""
    import papermill as pm

    bar.set_postfix_str(nb_path.stem)
    nb_out = out / nb_path.stem
    nb_out.mkdir(parents=True, exist_ok=True)
    results_file = nb_out / RESULTS_FILENAME
    results_file.unlink(missing_ok=True)  # stale results from an earlier run would lie
    common = {"preset": preset, "seed": seed, "out_dir": str(nb_out), "runs_dir": str(out / "runs")}
    output_nb = out / nb_path.name
    error: NotebookError | None = None
    passed: dict[str, Any] = {}
    ignored: list[str] = []
    t0 = time.perf_counter()
    try:
        passed, ignored = resolve_parameters(nb_path, common, params)
        old_env = os.environ.get(RESULTS_ENV)
        os.environ[RESULTS_ENV] = str(results_file)  # the kernel inherits it
        try:
            pm.execute_notebook(str(nb_path), str(output_nb), parameters=passed, kernel_name=kernel_name, language="python",
                                progress_bar=False, cwd=str(cwd or Path.cwd()),
                                execution_timeout=cell_timeout, kernel_manager_class=kernel_manager)
        finally:
            if old_env is None:
                os.environ.pop(RESULTS_ENV, None)
            else:
                os.environ[RESULTS_ENV] = old_env
    except Exception as exc:  # noqa: BLE001 - any failure is reported and the suite goes on
        error = _error_from(exc, output_nb)
    seconds = time.perf_counter() - t0
    try:
        results = load_results(results_file)
    except ValueError as exc:
        results, error = {}, error or _error_from(exc, output_nb)
    run = NotebookRun(notebook=nb_path.stem, status="ok" if error is None else "failed",
                      seconds=round(seconds, 2), output=str(output_nb), parameters=passed,
                      ignored_parameters=ignored, results=results, error=error)
    tqdm.write(f"{nb_path.stem}: {run.status} ({seconds:.1f} s)")
    if error is not None:
        tqdm.write(format_failure(run), file=sys.stderr)
        with open(log_file, "a", encoding="utf-8") as fh:
            fh.write(format_failure(run) + "\n")
    return run


def format_failure(run: NotebookRun) -> str:
    """Human-readable failure report: notebook, failing cell (index, source) and traceback."""
    e = run.error
    if e is None:
        return f"{run.notebook}: ok"
    where = f"cell {e.cell_index} (execution count {e.exec_count})" if e.cell_index is not None else "before execution"
    src = "\n".join("    " + line for line in e.source.splitlines()) or "    (no cell source)"
    return (f"FAILED {run.notebook} at {where}: {e.ename}: {e.evalue}\n"
            f"  failing cell:\n{src}\n  traceback:\n{e.traceback}\n  executed copy: {run.output}")


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    s = json.dumps(v) if isinstance(v, (list, dict)) else str(v)
    return s.replace("|", "\\|").replace("\n", " ")


def _is_table(v: Any) -> bool:
    return isinstance(v, dict) and set(v) == {"columns", "data"}


def summary_markdown(summary: SuiteSummary) -> str:
    """The summary as Markdown: one status table, then each recorded table, then the failures."""
    lines = [f"# reidlab notebook suite — preset `{summary.preset}`, seed {summary.seed}", "",
             f"Overall: **{'ok' if summary.ok else 'FAILED'}**", "",
             "| notebook | status | time (s) | key results |", "|---|---|---|---|"]
    for n in summary.notebooks:
        scalars = "; ".join(f"{k} = {_cell(v)}" for k, v in sorted(n.results.items())
                            if not _is_table(v) and k != CLAIMS_RESULT)
        status = n.status if n.error is None else f"failed ({n.error.ename})"
        if n.skip_reason:
            status = f"skipped: {n.skip_reason}"
        lines.append(f"| {n.notebook} | {status} | {n.seconds:.1f} | {scalars} |")
    steps = [(p["name"], p["seconds"]) for p in summary.parts] + [(f"notebook {n.notebook}", n.seconds)
                                                                  for n in summary.notebooks]
    lines += ["", "## Time per part", "", "| part | time (s) |", "|---|---|"]
    lines += [f"| {name} | {sec:.1f} |" for name, sec in steps]
    lines.append(f"| **total** | **{sum(sec for _, sec in steps):.1f}** |")
    for n in summary.notebooks:
        for k, v in sorted(n.results.items()):
            if _is_table(v):
                lines += ["", f"## {n.notebook}: {k}", "", "| " + " | ".join(map(_cell, v["columns"])) + " |",
                          "|" + "---|" * len(v["columns"])]
                lines += ["| " + " | ".join(_cell(x) for x in row) + " |" for row in v["data"]]
    if summary.claims:
        lines += ["", "## Papers' claims (95 % bootstrap CI of delta; holds = CI above 0)", "",
                  "| claim | paper | verdict | delta | 95 % CI | notebook |", "|---|---|---|---|---|---|"]
        for c in summary.claims:
            ci = c.get("ci95")
            lines.append(f"| {_cell(c.get('id'))}: {_cell(c.get('claim'))} | {_cell(c.get('paper'))} | "
                         f"{_cell(c.get('verdict') or c.get('holds'))} | {_cell(c.get('delta'))} | "
                         f"{'' if not ci else f'[{ci[0]:.4g}, {ci[1]:.4g}]'} | {c.get('notebook', '')} |")
    failed = [n for n in summary.notebooks if n.error is not None]
    if failed:
        lines += ["", "## Failures"]
        for n in failed:
            lines += ["", "```text", format_failure(n), "```"]
    return "\n".join(lines) + "\n"


def write_summary(summary: SuiteSummary, out: str | Path) -> tuple[Path, Path]:
    """Write ``summary.json`` and ``summary.md`` into ``out``; return their paths."""
    out = Path(out)
    js, md = out / "summary.json", out / "summary.md"
    js.write_text(json.dumps(summary.to_dict(), indent=1, sort_keys=True))
    md.write_text(summary_markdown(summary))
    return js, md
