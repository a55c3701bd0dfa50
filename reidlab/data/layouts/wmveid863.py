"""WMVeID863: RGB + NIR + TIR aligned triples, one folder per vehicle.

Tree::

    ROOT/{train | bounding_box_train}/<vid>/{vis,ni,th}/<img>
    ROOT/query/<vid>/{vis,ni,th}/<img>
    ROOT/{test | bounding_box_test | gallery}/<vid>/{vis,ni,th}/<img>

Triples are matched by identical file name. ``pid`` = the digits ending the ``<vid>`` folder
name. From the file name (positions as in the PORSCHE loader): ``camid = name[1]`` (the digit
after ``v``), ``scene = name[7:10]`` (-1 when not three digits); ``n<d>`` anywhere in the name
gives ``attrs['daynight']``: ``n0`` -> ``day``, ``n1`` -> ``night`` (mapping inferred from the
public loaders, unverified against the release), the raw digit in ``attrs['n']``.
Example: ``v3_n1_s012_0004.jpg`` -> camera 3, scene 12, night.
"""
from __future__ import annotations

import re

from reidlab.data.layouts._vidfolders import VidFolderLayout
from reidlab.data.registry import register_dataset

PATTERN = "v<camera digit>... with name[1] = camera; optional n<d> (day/night) and name[7:10] = scene"
EXAMPLE = "v3_n1_s012_0004.jpg"
_N_RE = re.compile(r"(?<![A-Za-z0-9])n(\d)")
_VID_RE = re.compile(r"(\d+)$")


@register_dataset("wmveid863")
class WMVeID863(VidFolderLayout):
    split_folders = {
        "train": ("train", "bounding_box_train"),
        "query": ("query",),
        "gallery": ("test", "bounding_box_test", "gallery"),
    }
    expected_tree = (
        "  WMVeID863/\n"
        "    train/0001/{vis,ni,th}/v1_n0_s001_0000.jpg   (or bounding_box_train/)\n"
        "    query/<vid>/{vis,ni,th}/...\n"
        "    test/<vid>/{vis,ni,th}/...                  (or bounding_box_test/, gallery/)\n"
    )

    def parse(self, path: str, name: str, vid_folder: str) -> tuple[int, int, int, dict]:
        m = _VID_RE.search(vid_folder)
        if m is None:
            raise self.filename_error(path, "<vid> folder name ending in digits", "0001/vis/" + EXAMPLE,
                                      f"folder {vid_folder!r} has no number")
        pid = int(m.group(1))
        if len(name) < 2 or not name[1].isdigit():
            raise self.filename_error(path, PATTERN, EXAMPLE)
        cam = int(name[1])
        scene = int(name[7:10]) if name[7:10].isdigit() else -1
        attrs: dict = {}
        n = _N_RE.search(name)
        if n is not None:
            d = int(n.group(1))
            attrs["n"] = d
            attrs["daynight"] = {0: "day", 1: "night"}.get(d, f"n{d}")
        return pid, cam, scene, attrs
