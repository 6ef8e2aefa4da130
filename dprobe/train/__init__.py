"""Training loops, checkpoints/resume, regressor and detector training, evaluation, CLI."""
