"""srcnn.training.config: one table makes the flags, the recipe and the resume comparison."""

import argparse
import dataclasses

import pytest

import step2_train
from srcnn.core.errors import ResumeError, SettingError
from srcnn.training import config
from srcnn.training.config import EPOCHS, TrainSettings, add_flags, compare_with_recipe, recipe, settings_from_flags


def flagged_fields():
    return [field for field in dataclasses.fields(TrainSettings) if field.metadata["flag"]]


def test_every_setting_with_a_flag_is_a_flag_of_step2_with_its_default():
    parser = add_flags(argparse.ArgumentParser())
    options = {action.dest: action for action in parser._actions if action.option_strings}
    assert "--train-h5" in (options["stream"].help or "")
    for field in flagged_fields():
        action = options.pop(field.name)
        assert action.option_strings[0] == "--" + field.name.replace("_", "-")
        assert action.default == (None if field.metadata["unset"] else field.default)
        assert action.choices == (field.metadata["choices"] if field.metadata["flag"] is True else None)
        # every {setting} became its flag ("x{scale}" is the folder's own pattern, written as is)
        assert not [name for name in options if f"{{{name}}}" in (action.help or "") and name != "scale"]
    assert set(options) == {"help"}  # nothing else


def test_no_flags_give_the_defaults_and_given_flags_their_values():
    assert settings_from_flags(step2_train.parse_args([])) == TrainSettings()
    args = step2_train.parse_args(["--scale", "2", "--batch-size", "8", "--log-every", "3", "--no-augment",
                                   "--learning-rate", "2e-4", "--checkpoint-dir", "mine"])
    settings = settings_from_flags(args)
    assert (settings.scale, settings.batch_size, settings.log_every, settings.augment) == (2, 8, 3, False)
    assert settings.learning_rate == 2e-4 and settings.print_steps  # a given --log-every prints its lines
    assert (settings.checkpoint_dir, settings.log_dir) == ("mine", "mine/logs")
    assert (TrainSettings(scale=4).checkpoint_dir, TrainSettings(scale=4).log_dir) == ("checkpoint/x4", "logs/x4")


@pytest.mark.parametrize("name, value", [("optimizer", "adagrad"), ("precision", "float16"), ("arch", "9-2"),
                                         ("seed", 2**32), ("scale", 5), ("strategy", "tpu"), ("minutes", 0)])
def test_a_value_outside_the_table_is_a_setting_error_naming_it(name, value):
    with pytest.raises(SettingError, match=f"^{name} ") as refused:
        TrainSettings(**{name: value})
    assert refused.value.setting == name and "--" not in str(refused.value)


def test_an_architecture_is_kept_in_its_one_name():
    assert TrainSettings(arch="9x64-1x32-5").arch == "9-1-5"
    assert TrainSettings(arch="9-1x32-1x16-5").arch == "9-1-1-5"
    assert settings_from_flags(step2_train.parse_args(["--arch", "9x128-1x64-5"])).arch == "9x128-1x64-5"
    assert compare_with_recipe(recipe(TrainSettings(arch="9-1-5")), TrainSettings(arch="9x64-1x32-5"), "c") is None
    with pytest.raises(SettingError) as refused:
        TrainSettings(arch="9-2-5")
    assert str(refused.value) == "arch '9-2-5': filter sizes must be odd, like 9-1-5 or 9x128-1x64-5"


def test_the_recipe_is_the_whole_config_resolved_and_rebuilds_it():
    settings = TrainSettings(optimizer="sgd", precision="float32", epochs=5, checkpoint_dir="c")
    saved = recipe(settings)
    assert set(saved) == {field.name for field in dataclasses.fields(TrainSettings)} - {"fresh"}
    assert (saved["learning_rate"], saved["initialization"]) == (1e-4, "gaussian")  # the defaults resolved
    rebuilt = TrainSettings(**saved)
    assert recipe(rebuilt) == saved and dataclasses.replace(rebuilt, learning_rate=None,
                                                            initialization=None) == settings


def test_a_resume_compares_field_by_field():
    recorded = recipe(TrainSettings(batch_size=16, seed=0, epochs=2))
    assert compare_with_recipe(recorded, TrainSettings(batch_size=16, seed=0, epochs=2), "c") is None
    # What decides the weights from here on is noted; how this process runs is not.
    changed = TrainSettings(batch_size=16, seed=3, epochs=4, save_every=7, log_dir="elsewhere")
    assert compare_with_recipe(recorded, changed, "c") == "epochs 2 -> 4, seed 0 -> 3"
    for name, value in (("batch_size", 8), ("optimizer", "sgd"), ("arch", "9-5-5"), ("scale", 2)):
        with pytest.raises(ResumeError, match="^c: this run trains with ") as refused:
            compare_with_recipe(recorded, TrainSettings(**{name: value}), "c")
        assert (refused.value.setting, refused.value.recorded) == (name, recorded[name])


def test_an_older_recipe_compares_only_what_it_records():
    older = {"scale": 3, "arch": "9-1-5", "optimizer": "adam", "learning_rate": 0.001, "epochs": EPOCHS,
             "batch_size": 16, "seed": 0, "augment": True, "precision": "float32"}
    assert compare_with_recipe(older, TrainSettings(precision="float32", log_every=5), "c") is None
    assert compare_with_recipe(older, TrainSettings(precision="float32", augment=False), "c") == "augment True -> False"


def test_the_script_names_the_flag_of_a_refused_resume():
    error = ResumeError("c: this run trains with batch size 16 (its recipe.json)", "batch_size", 16)
    assert step2_train.resume_hint(error) == ("pass --batch-size 16 to continue it, or --fresh or another "
                                              "--checkpoint-dir to start a new run")
    assert config.FIXED == {field.name: field for field in dataclasses.fields(TrainSettings)}["optimizer"].metadata["resume"]
