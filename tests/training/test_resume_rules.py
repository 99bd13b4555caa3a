"""What a resume does with settings that acted at the start only: the recorded value stays."""

from srcnn.training.config import TrainSettings, compare_with_recipe, keep_recorded, recipe


def test_a_resume_keeps_the_recorded_initialization(tmp_path):
    first = TrainSettings(checkpoint_dir=str(tmp_path / "c"), log_dir=str(tmp_path / "l"))
    recorded = recipe(first)
    assert recorded["initialization"] == "identity"
    again = TrainSettings(checkpoint_dir=str(tmp_path / "c"), log_dir=str(tmp_path / "l"), initialization="gaussian")
    assert compare_with_recipe(recorded, again, "c") is None  # not a change of the run
    assert keep_recorded(recorded, again) == "initialization stays identity (it acted at the start only)"
    assert recipe(again)["initialization"] == "identity"  # what recipe.json will say
    assert keep_recorded(recorded, again) is None  # nothing left to keep
