"""Training on Lightning: the module, optimiser and schedules, Trainer construction, checkpoint soups."""
