"""Hyperparameter search on Ray Tune (pip install 'automodal[hpo]').

Search spaces go into fit's `hyperparameters` beside fixed values; these need no ray import in the script:

    from automodal import hpo
    predictor.fit(train, hyperparameters={"optimization.learning_rate": hpo.loguniform(1e-4, 1e-2)},
                  hyperparameter_tune_kwargs={"searcher": "bayes", "scheduler": "ASHA", "num_trials": 8})

Ray Tune's own spaces (tune.uniform, tune.choice, ...) work the same way.
"""

from .space import (Categorical, Int, Real, Space, choice, is_space, loguniform, lograndint, qloguniform, qrandint,
                    quniform, randint, uniform)

__all__ = ["Categorical", "Int", "Real", "Space", "choice", "is_space", "loguniform", "lograndint", "qloguniform",
           "qrandint", "quniform", "randint", "uniform"]
