"""The model layer's commands (``cpc train``, ``evaluate``, ``export``, ``predict``); the root ``cpc`` is ``spaces.cli``."""

from __future__ import annotations

from cpc_models.cli.evaluate import evaluate_command
from cpc_models.cli.export import export_command
from cpc_models.cli.learn import learn_command
from cpc_models.cli.predict import predict_command
from cpc_models.cli.train import train_group

MODEL_COMMANDS = (evaluate_command, predict_command, export_command, train_group, learn_command)
