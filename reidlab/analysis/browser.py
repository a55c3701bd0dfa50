"""An ipywidgets browser over the evaluation's per-query ranked lists (notebook 05, Voilà).

::

    from reidlab.analysis.browser import RankedListBrowser
    b = RankedListBrowser({"msn": {"rgbn300/rgb-nir": res_msn, ...},
                           "hamnet": {"rgbn300/rgb-nir": {False: res_h, True: res_h_rr}}}, data)
    b            # displays in Jupyter; ``voila notebooks/05_ranked_lists.ipynb`` serves it as a page

``results`` maps run name -> protocol name -> one of
* an ``EvalResult`` (or its ``per_query`` DataFrame): results without re-ranking;
* ``{False: EvalResult, True: EvalResult}``: without / with k-reciprocal re-ranking.
Missing combinations are computed on demand by ``compute(run, protocol, rerank)`` when given
(and cached); without it the panel says that the result is not there (nothing is faked).

Controls: run A and run B (side by side, B may be ``(none)``), protocol, re-ranking toggle,
sort order (AP / INP / failures first), query, top-k slider. Each result shows the gallery
record's images with a green (same ID) / red (wrong ID) border, junk items greyed (shown,
not hidden), its rank and distance, and a button. Clicking the button makes that gallery
item the query, defined as follows (positions are per split, so a gallery record is not
itself a query record):

1. the query record showing the same capture (same image files), if there is one;
2. else a query record of the same ID, preferring the same camera, then the lowest index;
3. else (an ID with no query, e.g. a distractor) the query does not change and
   :attr:`status` says why.

Only queries present (and not skipped) in run A's per-query table for the current protocol
are candidates. State for tests and scripts: :attr:`current_query`, :attr:`rendered_items`
(run A's shown items as :class:`~reidlab.analysis.ranked.RankedItem`),
:attr:`rendered_items_b`, :attr:`result_buttons` (``{"A": [...], "B": [...]}``), :attr:`status`.
"""
from __future__ import annotations

import io
from os import PathLike
from typing import Any, Callable, Mapping

import pandas as pd

from reidlab.analysis.ranked import (QUERY_RGB, SORT_KEYS, RankedItem, as_per_query, item_colour,
                                     modalities_of_key, protocol_records, query_row, ranked_items, record_tile, select_trial,
                                     sort_queries)
from reidlab.data.records import Record, ReIDData

NONE_RUN = "(none)"
ComputeFn = Callable[[str, str, bool], Any]


def _png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def evaluate_runs(runs: Mapping[str, Any], protocols: list[str], *, rerank: tuple[bool, ...] = (False, True),
                  progress: bool = True) -> dict[str, dict[str, dict[bool, Any]]]:
    """Evaluate trained runs for the browser: ``{run name: {protocol: {rerank: EvalResult}}}``.

    ``runs``: name -> run folder or ``Run`` (``reidlab.engine.runs``); each run's
    ``features.npz`` is evaluated with :func:`reidlab.eval.evaluate` under each protocol,
    without and/or with k-reciprocal re-ranking (defaults 20/6/0.3). A protocol the run's
    features cannot serve (``ProtocolUnsupported``, e.g. NIR protocols for an RGB-only run)
    is left out of that run's entry and reported on stdout, so the browser says it is missing.
    """
    from tqdm.auto import tqdm

    from reidlab.engine.runs import load_run
    from reidlab.eval import ProtocolUnsupported, evaluate

    out: dict[str, dict[str, dict[bool, Any]]] = {}
    jobs = [(n, p, r) for n in runs for p in protocols for r in rerank]
    feats = {n: (load_run(v) if isinstance(v, (str, PathLike)) else v).load_features() for n, v in runs.items()}
    for name, proto, rr in tqdm(jobs, desc="evaluate", unit="eval", disable=not progress):
        try:
            res = evaluate(feats[name], proto, rerank=rr)
        except ProtocolUnsupported as e:
            print(f"{name}: {proto} not evaluated ({e})")
            continue
        out.setdefault(name, {}).setdefault(proto, {})[bool(rr)] = res
    return out


class RankedListBrowser:
    """Interactive ranked-list viewer; see the module docstring for the data and the controls.

    ``data``: the dataset the results were computed on (its splits are indexed by the
    per-query ``query`` / ``topk`` positions; the split names come from the protocol when it
    is registered, else ``query`` / ``gallery``). ``k``: initial top-k (slider up to
    ``max_k``). ``trial``: which trial of multi-trial protocols to show.
    """

    def __init__(self, results: Mapping[str, Mapping[str, Any]], data: ReIDData, *, k: int = 10, max_k: int = 20,
                 compute: ComputeFn | None = None, trial: int | None = 0, tile_height: int = 80) -> None:
        import ipywidgets as w

        if not results:
            raise ValueError("RankedListBrowser: results is empty; pass {run name: {protocol: EvalResult}}")
        self.results = {str(r): dict(p) for r, p in results.items()}
        self.data = data
        self.compute = compute
        self.trial = trial
        self.tile_height = tile_height
        self._cache: dict[tuple[str, str, bool], pd.DataFrame] = {}
        self._tiles: dict[tuple, bytes] = {}
        self._updating = False
        self.current_query: int | None = None
        self.rendered_items: list[RankedItem] = []
        self.rendered_items_b: list[RankedItem] | None = None
        self.result_buttons: dict[str, list[w.Button]] = {"A": [], "B": []}
        self.status = ""

        runs = list(self.results)
        protocols = sorted({p for r in self.results.values() for p in r})
        self.run_a = w.Dropdown(options=runs, value=runs[0], description="run A")
        self.run_b = w.Dropdown(options=[NONE_RUN] + runs, value=runs[1] if len(runs) > 1 else NONE_RUN,
                                description="run B")
        self.protocol = w.Dropdown(options=protocols, value=self._first_protocol(runs[0], protocols),
                                   description="protocol")
        self.rerank = w.ToggleButton(value=False, description="re-ranking", tooltip="k-reciprocal re-ranking")
        self.sort_by = w.Dropdown(options=list(SORT_KEYS.items()), value="ap_asc", description="sort")
        self.query = w.Dropdown(options=[], description="query")
        self.topk = w.IntSlider(value=min(k, max_k), min=1, max=max_k, description="top-k")
        self._status_html = w.HTML()
        self._query_img = w.Image(format="png")
        self._query_label = w.HTML()
        self._panel_a = w.VBox()
        self._panel_b = w.VBox()
        controls = w.VBox([w.HBox([self.run_a, self.run_b, self.protocol]),
                           w.HBox([self.rerank, self.sort_by, self.query, self.topk])])
        self.widget = w.VBox([controls, w.HBox([w.VBox([self._query_img, self._query_label])]),
                              w.HBox([self._panel_a, self._panel_b]), self._status_html])
        for c in (self.run_a, self.run_b, self.protocol, self.rerank, self.sort_by):
            c.observe(self._on_context, names="value")
        self.query.observe(self._on_query, names="value")
        self.topk.observe(self._on_query, names="value")
        self._refresh_queries()

    # ------------------------------------------------------------------ data access
    def _first_protocol(self, run: str, protocols: list[str]) -> str:
        own = [p for p in protocols if p in self.results[run]]
        return (own or protocols)[0]

    def per_query(self, run: str, protocol: str, rerank: bool) -> pd.DataFrame:
        """The per-query table of one run/protocol/re-ranking setting (one trial).

        Raises LookupError saying what is missing when it is neither given nor computable.
        """
        key = (run, protocol, bool(rerank))
        if key in self._cache:
            return self._cache[key]
        entry = self.results.get(run, {}).get(protocol)
        res = None
        if isinstance(entry, Mapping):
            res = entry.get(bool(rerank))
        elif entry is not None and not rerank:
            res = entry
        if res is None and self.compute is not None:
            res = self.compute(run, protocol, bool(rerank))
        if res is None:
            what = "with" if rerank else "without"
            raise LookupError(f"run {run!r} has no result for {protocol!r} {what} re-ranking "
                              "(pass it in results or give compute=)")
        df = select_trial(as_per_query(res), self.trial)
        self._cache[key] = df
        return df

    def _splits(self, protocol: str) -> tuple[list[Record], list[Record], tuple[str, ...] | None]:
        """Query records, gallery records and gallery modalities of ``protocol``."""
        return protocol_records(self.data, protocol)

    def _tile(self, split: str, rec: Record, mods, colour, junk: bool) -> bytes:
        key = (split, rec.index, id(rec), tuple(mods or ()), colour, junk)
        if key not in self._tiles:
            self._tiles[key] = _png(record_tile(rec, mods, height=self.tile_height, border=colour, junk=junk))
        return self._tiles[key]

    # ------------------------------------------------------------------ events
    def _on_context(self, change=None) -> None:
        if not self._updating:
            self._refresh_queries()

    def _on_query(self, change=None) -> None:
        if not self._updating:
            self.render()

    def _refresh_queries(self) -> None:
        """Rebuild the query list (order, labels) for run A / protocol / re-ranking / sort."""
        try:
            df = self.per_query(self.run_a.value, self.protocol.value, self.rerank.value)
        except LookupError as e:
            self._set_status(str(e))
            self._updating = True
            self.query.options = []
            self._updating = False
            self.current_query = None
            self.rendered_items = []
            self._panel_a.children = []
            self._panel_b.children = []
            return
        order = sort_queries(df, self.sort_by.value)
        by_q = df.drop_duplicates("query").set_index("query")
        opts = [(f"q{q} · ID {int(by_q.at[q, 'pid'])} · AP {by_q.at[q, 'ap']:.2f} · "
                 f"rank-1 {'hit' if by_q.at[q, 'first_hit'] == 1 else 'miss'}", q) for q in order]
        keep = self.current_query if self.current_query in order else (order[0] if order else None)
        self._updating = True
        self.query.options = opts
        self.query.value = keep
        self._updating = False
        self.render()

    def select_query(self, query: int) -> None:
        """Make query record ``query`` the current one (it must be in the query list)."""
        valid = [v for _, v in self.query.options]
        if query not in valid:
            raise ValueError(f"query {query} is not selectable for this run/protocol (skipped or absent)")
        self.query.value = query  # triggers render

    def query_for_gallery(self, gallery_index: int) -> int | None:
        """The query record that stands for gallery record ``gallery_index`` (rules in the module doc)."""
        qrecs, grecs, _ = self._splits(self.protocol.value)
        g = grecs[gallery_index]
        valid = [v for _, v in self.query.options]
        paths = {ref.path for ref in g.images.values()}
        same = [q for q in valid if {ref.path for ref in qrecs[q].images.values()} == paths]
        if same:
            return same[0]
        cands = sorted((q for q in valid if qrecs[q].pid == g.pid), key=lambda q: (qrecs[q].camid != g.camid, q))
        return cands[0] if cands else None

    def click_result(self, gallery_index: int) -> None:
        """What a result button does: make that gallery item the query (see module doc)."""
        q = self.query_for_gallery(gallery_index)
        if q is None:
            self._set_status(f"gallery item {gallery_index} (ID {self._splits(self.protocol.value)[1][gallery_index].pid})"
                             " has no query record of its ID; query unchanged")
            return
        self.query.value = q
        if q == self.current_query:
            self.render()
        self._set_status(f"query set to q{q} from gallery item {gallery_index}")

    # ------------------------------------------------------------------ drawing
    def _set_status(self, text: str) -> None:
        self.status = text
        self._status_html.value = f"<i>{text}</i>" if text else ""

    def _panel(self, side: str, run: str) -> tuple[list, list[RankedItem] | None]:
        import ipywidgets as w

        title = w.HTML(f"<b>{side}: {run}</b> — {self.protocol.value}{' + re-ranking' if self.rerank.value else ''}")
        try:
            df = self.per_query(run, self.protocol.value, self.rerank.value)
            row = query_row(df, self.current_query)
        except (LookupError, KeyError) as e:
            msg = e.args[0] if e.args else str(e)
            self.result_buttons[side] = []
            return [title, w.HTML(f"<i>{msg}</i>")], None
        _, grecs, gmods = self._splits(self.protocol.value)
        items = ranked_items(row, self.topk.value)
        boxes, buttons = [], []
        for it in items:
            img = w.Image(value=self._tile("gallery", grecs[it.gallery_index], gmods, item_colour(it), it.junk),
                          format="png")
            label = f"{it.rank}. {it.dist:.3f}" + (" junk" if it.junk else "")
            btn = w.Button(description=label, tooltip=f"gallery item {it.gallery_index}: make it the query",
                           button_style="" if it.junk else "success" if it.match else "danger",
                           layout=w.Layout(width="auto"))
            btn.on_click(lambda _b, g=it.gallery_index: self.click_result(g))
            buttons.append(btn)
            boxes.append(w.VBox([img, btn]))
        self.result_buttons[side] = buttons
        stats = "skipped" if bool(row["skipped"]) else f"AP {row['ap']:.3f} · INP {row['inp']:.3f} · first hit {row['first_hit']:.0f}"
        return [title, w.HTML(stats), w.HBox(boxes, layout=w.Layout(flex_flow="row wrap"))], items

    def render(self) -> None:
        """Redraw the query and both panels for the current controls."""
        self.current_query = self.query.value
        if self.current_query is None:
            self._set_status("no query to show (every query skipped?)")
            return
        qrecs, _, _ = self._splits(self.protocol.value)
        rec = qrecs[self.current_query]
        try:
            key = query_row(self.per_query(self.run_a.value, self.protocol.value, self.rerank.value),
                            self.current_query).get("key")
        except (LookupError, KeyError):
            key = None
        self._query_img.value = self._tile("query", rec, modalities_of_key(key) or rec.modalities, QUERY_RGB, False)
        self._query_label.value = f"query q{self.current_query} · ID {rec.pid} · camera {rec.camid}"
        children, items = self._panel("A", self.run_a.value)
        self._panel_a.children = children
        self.rendered_items = items or []
        if self.run_b.value == NONE_RUN:
            self._panel_b.children = []
            self.rendered_items_b = None
            self.result_buttons["B"] = []
        else:
            children_b, items_b = self._panel("B", self.run_b.value)
            self._panel_b.children = children_b
            self.rendered_items_b = items_b

    def _ipython_display_(self) -> None:  # pragma: no cover - needs a front end
        from IPython.display import display

        display(self.widget)
