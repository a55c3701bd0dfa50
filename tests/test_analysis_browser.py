"""The ranked-list browser driven programmatically: controls change what it shows."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_analysis_ranked import make_data, make_per_query  # noqa: E402

from reidlab.analysis.browser import NONE_RUN, RankedListBrowser  # noqa: E402
from reidlab.analysis.ranked import ranked_items, sort_queries  # noqa: E402

P = "tiny/rgb-nir"  # not a registered protocol: the browser uses the query/gallery splits


@pytest.fixture()
def setup(tmp_path: Path):
    data = make_data(tmp_path / "imgs")
    a, a_rr, b = make_per_query(data, 0), make_per_query(data, 1), make_per_query(data, 2)
    results = {"runA": {P: {False: a, True: a_rr}}, "runB": {P: b}}
    return data, results, (a, a_rr, b)


def _shown(items):
    return [it.as_tuple() for it in items]


def test_initial_view_and_topk(setup) -> None:
    data, results, (a, _, b) = setup
    br = RankedListBrowser(results, data, k=4, max_k=8, tile_height=24)
    worst = sort_queries(a, "ap_asc")[0]
    assert br.current_query == worst
    assert _shown(br.rendered_items) == _shown(ranked_items(a.set_index("query").loc[worst], 4))
    assert br.run_b.value == "runB"
    assert _shown(br.rendered_items_b) == _shown(ranked_items(b.set_index("query").loc[worst], 4))
    assert len(br.result_buttons["A"]) == 4 and len(br.result_buttons["B"]) == 4
    br.topk.value = 7
    assert len(br.rendered_items) == 7 and len(br.result_buttons["A"]) == 7
    # junk items are shown (not hidden), flagged, and labelled
    junk = [(it, btn) for it, btn in zip(br.rendered_items, br.result_buttons["A"]) if it.junk]
    assert junk and all("junk" in btn.description for _, btn in junk)


def test_sort_and_query_selection(setup) -> None:
    data, results, (a, _, _) = setup
    br = RankedListBrowser(results, data, k=3, tile_height=24)
    br.sort_by.value = "ap_desc"
    assert [v for _, v in br.query.options] == sort_queries(a, "ap_desc")
    br.sort_by.value = "failures"
    assert [v for _, v in br.query.options] == sort_queries(a, "failures")
    other = [v for _, v in br.query.options if v != br.current_query][0]
    br.query.value = other
    assert br.current_query == other
    assert _shown(br.rendered_items) == _shown(ranked_items(a.set_index("query").loc[other], 3))
    with pytest.raises(ValueError, match="not selectable"):
        br.select_query(99)


def test_rerank_toggle_and_missing_result(setup) -> None:
    data, results, (a, a_rr, _) = setup
    br = RankedListBrowser(results, data, k=5, tile_height=24)
    q = br.current_query
    br.rerank.value = True
    assert br.current_query == q or br.current_query in [v for _, v in br.query.options]
    assert _shown(br.rendered_items) == _shown(ranked_items(a_rr.set_index("query").loc[br.current_query], 5))
    # run B has no re-ranked result and no compute callback: said so, nothing shown
    assert br.rendered_items_b is None and br.result_buttons["B"] == []
    assert "without" not in str(br._panel_b.children[1].value) and "re-ranking" in br._panel_b.children[1].value
    br.run_b.value = NONE_RUN
    assert br.rendered_items_b is None and br._panel_b.children == ()


def test_compute_callback_fills_missing(setup) -> None:
    data, results, (_, _, b) = setup
    calls = []

    def compute(run, protocol, rerank):
        calls.append((run, protocol, rerank))
        return make_per_query(data, 7)

    br = RankedListBrowser(results, data, k=3, compute=compute, tile_height=24)
    br.rerank.value = True
    assert calls == [("runB", P, True)]
    expected = make_per_query(data, 7).set_index("query").loc[br.current_query]
    assert _shown(br.rendered_items_b) == _shown(ranked_items(expected, 3))
    br.rerank.value = False
    br.rerank.value = True
    assert len(calls) == 1  # cached


def test_run_swap_changes_panel_a(setup) -> None:
    data, results, (_, _, b) = setup
    br = RankedListBrowser(results, data, k=3, tile_height=24)
    br.run_a.value = "runB"
    assert [v for _, v in br.query.options] == sort_queries(b, "ap_asc")
    assert _shown(br.rendered_items) == _shown(ranked_items(b.set_index("query").loc[br.current_query], 3))


def test_click_result_makes_it_the_query(setup) -> None:
    data, results, _ = setup
    br = RankedListBrowser(results, data, k=8, tile_height=24)
    start = br.current_query
    # click a result whose ID differs from the query's: the query becomes that ID's query record
    idx = next(i for i, it in enumerate(br.rendered_items) if data.gallery[it.gallery_index].pid != data.query[start].pid)
    g = br.rendered_items[idx].gallery_index
    br.result_buttons["A"][idx].click()
    assert br.current_query != start
    assert data.query[br.current_query].pid == data.gallery[g].pid
    assert f"q{br.current_query}" in br.status
    # what is shown follows the new query
    a = results["runA"][P][False]
    assert _shown(br.rendered_items) == _shown(ranked_items(a.set_index("query").loc[br.current_query], 8))


def test_click_same_capture_and_unmatched_id(tmp_path: Path) -> None:
    import dataclasses

    data = make_data(tmp_path / "imgs")
    # gallery item 7 shows the same files as query 3 -> rule 1; an ID-9 distractor has no query.
    g = list(data.gallery)
    g[7] = dataclasses.replace(g[7], images=data.query[3].images, camid=5)
    g[6] = dataclasses.replace(g[6], pid=9)
    data.splits["gallery"] = g
    pq = make_per_query(data, 0)
    br = RankedListBrowser({"r": {P: pq}}, data, k=8, tile_height=24)
    assert br.query_for_gallery(7) == 3
    assert br.query_for_gallery(2) == 1  # pid 2 -> its only query record
    before = br.current_query
    br.click_result(6)
    assert br.current_query == before and "no query record" in br.status


def test_bad_inputs(setup) -> None:
    data, _, _ = setup
    with pytest.raises(ValueError, match="empty"):
        RankedListBrowser({}, data)
    import pandas as pd

    with pytest.raises(ValueError, match="lacks columns"):
        RankedListBrowser({"r": {P: pd.DataFrame({"query": [0]})}}, data)
