"""MSVR310 (PR 2023): RGB + NIR + TIR aligned triples, one folder per vehicle.

Tree::

    ROOT/{bounding_box_train | train}/<vid>/{vis,ni,th}/<img>
    ROOT/query3/<vid>/{vis,ni,th}/<img>
    ROOT/{bounding_box_test | test}/<vid>/{vis,ni,th}/<img>

(the PORSCHE release names the folders ``train, query3, test``). Triples are matched by
identical file name across ``vis/ni/th``. Name fields by position (as the public loaders
read them): ``pid = name[0:4]``, ``scene = name[6:9]``, ``camid = name[11]`` (0..7),
e.g. ``0012_s003_v2_0001.jpg``. ``camid`` is the camera digit as written.

Splits: ``train``, ``query3`` and ``gallery``. The ``query3`` folder is ALSO exposed as
``query`` (the same records, ``split='query'``) so generic code that asks for ``query``
works; protocols that name ``query3`` get the same captures.
"""
from __future__ import annotations

from reidlab.data.layouts._vidfolders import VidFolderLayout
from reidlab.data.records import Record
from reidlab.data.registry import register_dataset

PATTERN = "name[0:4]=pid (4 digits), name[6:9]=scene (3 digits), name[11]=camera digit 0..7"
EXAMPLE = "0012_s003_v2_0001.jpg"


@register_dataset("msvr310")
class MSVR310(VidFolderLayout):
    split_folders = {
        "train": ("bounding_box_train", "train"),
        "query3": ("query3", "query"),
        "gallery": ("bounding_box_test", "test"),
    }
    eval_pairs = (("query", "gallery"),)
    expected_tree = (
        "  MSVR310/\n"
        "    bounding_box_train/0001/{vis,ni,th}/0001_s001_v0_0000.jpg   (or train/)\n"
        "    query3/<vid>/{vis,ni,th}/...\n"
        "    bounding_box_test/<vid>/{vis,ni,th}/...                    (or test/)\n"
    )

    def parse(self, path: str, name: str, vid_folder: str) -> tuple[int, int, int, dict]:
        pid_s, scene_s, cam_s = name[0:4], name[6:9], name[11:12]
        if not (pid_s.isdigit() and scene_s.isdigit() and cam_s.isdigit()):
            raise self.filename_error(path, PATTERN, EXAMPLE)
        pid, scene, cam = int(pid_s), int(scene_s), int(cam_s)
        if vid_folder.isdigit() and int(vid_folder) != pid:
            raise self.filename_error(path, PATTERN, EXAMPLE, f"pid {pid} differs from its folder {vid_folder}")
        if not 0 <= cam <= 7:
            raise self.range_error(path, "camera", cam, 0, 7)
        return pid, cam, scene, {}

    def list_splits(self) -> dict[str, list[Record]]:
        splits = super().list_splits()
        from dataclasses import replace

        splits["query"] = [replace(r, split="query") for r in splits["query3"]]
        return {k: splits[k] for k in ("train", "query", "query3", "gallery")}
