"""Each training records its settings for TensorBoard's HParams dashboard."""

import pytest
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import plugin_data_pb2

import step2_train
from tiny_data import write_h5s


@pytest.mark.slow
def test_a_run_logs_its_settings_as_one_hparams_session(tmp_path):
    train_h5, test_h5 = write_h5s(str(tmp_path / "h5"), count=64)
    logs = tmp_path / "run" / "logs"
    assert step2_train.main(["--train-h5", train_h5, "--test-h5", test_h5, "--checkpoint-dir", str(tmp_path / "run"),
                             "--arch", "9x32-1x16-5", "--epochs", "1", "--batch-size", "16",
                             "--learning-rate", "0.0005"]) == 0
    events = event_accumulator.EventAccumulator(str(logs))
    events.Reload()
    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    session = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    values = {name: value.WhichOneof("kind") and getattr(value, value.WhichOneof("kind"))
              for name, value in session.hparams.items()}
    assert values["arch"] == "9x32-1x16-5" and values["epochs"] == 1 and values["learning_rate"] == 0.0005
    assert values["optimizer"] == "adam" and session.group_name == "run"
    assert (logs / "eval").is_dir()  # where the dashboard finds the session's PSNR (eval/psnr)
