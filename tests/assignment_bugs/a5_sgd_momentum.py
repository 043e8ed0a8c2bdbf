"""Wrong versions of the functions of a5_sgd_momentum, and of the training run's settings."""

from .harness import bug

#: The training run trains with the student's sgd_momentum.
CALLS = {"training_run": {"sgd_momentum"}}

BUGS = [
    # sgd
    bug("sgd", "ascent", "adds the gradient",
        ('return w - config["learning_rate"] * dw, config', 'return w + config["learning_rate"] * dw, config')),
    bug("sgd", "ignores_config", "always uses the learning rate 1e-2",
        ('return w - config["learning_rate"] * dw, config', "return w - 1e-2 * dw, config")),
    bug("sgd", "config_none_crash", "does not handle config=None",
        ("    if config is None:\n        config = {}\n", "")),
    bug("sgd", "in_place", "updates w in place",
        ('return w - config["learning_rate"] * dw, config', 'w -= config["learning_rate"] * dw\n    return w, config'),
        caught_by="hidden"),
    # sgd_momentum
    bug("sgd_momentum", "uphill", "moves against the velocity: next_w = w - v",
        ("return w + v, config", "return w - v, config")),
    bug("sgd_momentum", "velocity_not_stored", "never stores the new velocity, so every step is plain SGD",
        ('    config["velocity"] = v\n', "")),
    bug("sgd_momentum", "no_momentum", "drops the momentum term",
        ('v = config["momentum"] * v - config["learning_rate"] * dw', 'v = -config["learning_rate"] * dw')),
    bug("sgd_momentum", "shared_velocity", "keeps one velocity in a global variable, shared by all parameters",
        ('v = config.get("velocity")', 'v = globals().get("_velocity")'),
        ('    config["velocity"] = v\n', '    config["velocity"] = v\n    globals()["_velocity"] = v\n')),
    bug("sgd_momentum", "float64_velocity",
        "starts the velocity as float64 zeros, turning float32 weights into float64",
        ("v = np.zeros_like(w)", "v = np.zeros(w.shape)"), caught_by="hidden"),
    bug("sgd_momentum", "no_momentum_default", "has no default momentum",
        ('    config.setdefault("momentum", 0.9)\n', ""), caught_by="hidden"),
    # the training run (the student's hyperparameters)
    bug("training_run", "tiny_learning_rate", "trains with learning rate 0.002: too slow for 3 epochs",
        ("LEARNING_RATE = 0.1", "LEARNING_RATE = 0.002")),
    bug("training_run", "learning_rate_out_of_range", "sets learning rate 5",
        ("LEARNING_RATE = 0.1", "LEARNING_RATE = 5")),
    bug("training_run", "no_momentum", "sets momentum 0 (plain SGD)",
        ("MOMENTUM = 0.9", "MOMENTUM = 0.0")),
]
