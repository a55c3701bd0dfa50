"""A resume refuses a changed config value outside the allowed list, naming key and values."""
import pytest

from reidlab.engine.trainer import check_resume_overrides


def test_resume_refuses_changed_lr_and_allows_epochs():
    old = {"lr": 0.1, "epochs": 2, "eval_every": 1}
    check_resume_overrides(old, {"lr": 0.1, "epochs": 5, "eval_every": 2}, "runs/x")
    with pytest.raises(ValueError, match=r"'lr' would change from 0.1 to 0.2"):
        check_resume_overrides(old, {"lr": 0.2, "epochs": 2, "eval_every": 1}, "runs/x")
