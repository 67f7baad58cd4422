"""optimization.*, env.* and distiller.* keys, checked on real (small, FAST) fits and on the Trainer they build.

Data: the conftest frames. mixed_frame has 400 rows -> 320 training rows after the 20% holdout -> 10 batches of 32
per epoch under FAST.
"""

import os
import time

import numpy as np
import pandas as pd
import pytest
import torch
import lightning.pytorch as pl
from torch.optim.optimizer import register_optimizer_step_pre_hook

from automodal import MultiModalPredictor
from automodal.config import resolve_config
from automodal.learners.tabular import network as network_module
from automodal.training import trainer as trainer_module
from automodal.training.module import Distillation, TrainingModule
from conftest import fast, record_calls

BATCHES_PER_EPOCH = 10   # 320 training rows of mixed_frame / per_gpu_batch_size 32



def callbacks_for(loop: str):
    """A do-nothing Lightning callback sends a fit to the Trainer; without callbacks a small network takes the
    project's Fabric loop."""
    return [pl.Callback()] if loop == "trainer" else None


def fit(frame, tmp_path, label="label", tuning_data=None, teacher=None, name="model", loop="fabric", **keys):
    """A fit on the given loop (see callbacks_for)."""
    predictor = MultiModalPredictor(label=label, path=str(tmp_path / name), verbosity=0)
    returned = predictor.fit(frame, tuning_data=tuning_data, hyperparameters=fast(**keys), teacher_predictor=teacher,
                             callbacks=callbacks_for(loop))
    assert returned is predictor
    assert predictor.fit_summary()["training_loop"] == loop
    return predictor


LOOPS = pytest.mark.parametrize("loop", ["fabric", "trainer"])


def training_log(predictor) -> pd.DataFrame:
    return pd.read_csv(os.path.join(predictor.path, "training_log.csv"))


def validations(predictor) -> int:
    return int(training_log(predictor)["val_score"].notna().sum())


def train_loss_rows(predictor) -> pd.Series:
    log = training_log(predictor)
    return log["train_loss"].dropna() if "train_loss" in log else pd.Series(dtype=float)


@pytest.fixture
def trainers(monkeypatch):
    """Every Lightning Trainer that fit() builds, in order."""
    return record_calls(monkeypatch, network_module, "build_trainer")


# ---------------------------------------------------------------- how long training runs

@LOOPS
def test_max_steps_stops_at_exactly_that_step(mixed_frame, tmp_path, loop):
    predictor = fit(mixed_frame, tmp_path, loop=loop, **{"optimization.max_steps": 13, "optimization.max_epochs": 50})
    summary = predictor.fit_summary()
    assert summary["global_step"] == 13
    assert summary["stop_reason"] == "max_steps"
    assert predictor.predict(mixed_frame.head(5)).shape == (5,)


@LOOPS
def test_max_epochs_runs_that_many_epochs(mixed_frame, tmp_path, loop):
    predictor = fit(mixed_frame, tmp_path, loop=loop, **{"optimization.max_epochs": 3})
    summary = predictor.fit_summary()
    assert summary["epochs"] == 3
    assert summary["global_step"] == 3 * BATCHES_PER_EPOCH
    assert summary["stop_reason"] == "max_epochs"
    assert validations(predictor) == 3          # val_check_interval 1.0: once per epoch


# 0.25 of 10 batches is every int(2.5) = 2 batches, as in Lightning.
@LOOPS
@pytest.mark.parametrize("interval, expected", [(1.0, 2), (0.5, 4), (0.25, 10), (5, 4), (3, 6)])
def test_val_check_interval_sets_the_number_of_validations(mixed_frame, tmp_path, interval, expected, loop):
    """A float is a fraction of an epoch; an int counts training batches, across epoch boundaries."""
    predictor = fit(mixed_frame, tmp_path, loop=loop, **{"optimization.max_epochs": 2,
                                                         "optimization.val_check_interval": interval,
                                                         "optimization.patience": 100})
    assert validations(predictor) == expected
    assert predictor.fit_summary()["global_step"] == 2 * BATCHES_PER_EPOCH


# A learning rate this small leaves every float32 weight unchanged, so no validation improves on the first one.
FROZEN = {"optimization.learning_rate": 1e-12, "optimization.weight_decay": 0.0, "optimization.max_epochs": 5}


@LOOPS
@pytest.mark.parametrize("patience", [0, 1, 3])
def test_patience_stops_after_that_many_validations_without_improvement(mixed_frame, tmp_path, patience, loop):
    predictor = fit(mixed_frame, tmp_path, loop=loop, **FROZEN, **{"optimization.patience": patience,
                                                        "optimization.val_check_interval": 2})
    summary = predictor.fit_summary()
    checks = max(1, patience) + 1      # the first check sets the best score; then `patience` checks without gain
    assert validations(predictor) == checks
    assert summary["global_step"] == 2 * checks
    assert summary["stop_reason"] == "early_stopping"
    assert len(set(training_log(predictor)["val_score"].dropna())) == 1


@LOOPS
def test_early_stopping_within_the_first_epoch_is_reported(mixed_frame, tmp_path, loop):
    predictor = fit(mixed_frame, tmp_path, loop=loop, **FROZEN, **{"optimization.patience": 0,
                                                        "optimization.val_check_interval": 0.25})
    summary = predictor.fit_summary()
    assert validations(predictor) == 2
    assert summary["global_step"] < BATCHES_PER_EPOCH
    assert summary["stop_reason"] == "early_stopping"


def test_a_learning_model_is_not_stopped_early(mixed_frame, tmp_path):
    predictor = fit(mixed_frame, tmp_path, **{"optimization.patience": 100, "optimization.max_epochs": 3})
    assert predictor.fit_summary()["stop_reason"] == "max_epochs"


@LOOPS
def test_time_limit_stops_in_time_and_still_predicts(mixed_frame, tmp_path, loop):
    started = time.time()
    predictor = MultiModalPredictor(label="label", path=str(tmp_path / "model"), verbosity=0)
    predictor.fit(mixed_frame, time_limit=5, hyperparameters=fast(**{"optimization.max_epochs": 1000,
                                                                      "optimization.patience": 100000}),
                  callbacks=callbacks_for(loop))
    elapsed = time.time() - started
    summary = predictor.fit_summary()
    assert elapsed < 60
    assert summary["stop_reason"] == "time_limit" and summary["training_loop"] == loop
    # the weights the limit stopped are validated too: the last validation is logged at the last step's index
    assert training_log(predictor).dropna(subset=["val_score"])["step"].iloc[-1] == summary["global_step"] - 1
    assert 1 <= summary["epochs"] < 1000
    proba = predictor.predict_proba(mixed_frame)
    assert proba.shape == (len(mixed_frame), 2)
    assert predictor.evaluate(mixed_frame)["roc_auc"] > 0.8


# ---------------------------------------------------------------- gradients

def test_gradient_clipping_keys_reach_the_trainer(mixed_frame, tmp_path, trainers):
    fit(mixed_frame, tmp_path, name="value", loop="trainer", **{"optimization.max_steps": 2,
                                                                "optimization.gradient_clip_val": 0.5,
                                                                "optimization.gradient_clip_algorithm": "value"})
    fit(mixed_frame, tmp_path, name="norm", loop="trainer", **{"optimization.max_steps": 2,
                                                               "optimization.gradient_clip_val": 3,
                                                               "optimization.gradient_clip_algorithm": "norm"})
    fit(mixed_frame, tmp_path, name="off", loop="trainer", **{"optimization.max_steps": 2,
                                                              "optimization.gradient_clip_val": 0})
    value, norm, off = trainers
    assert value.gradient_clip_val == 0.5 and value.gradient_clip_algorithm == "value"
    assert norm.gradient_clip_val == 3 and norm.gradient_clip_algorithm == "norm"
    assert off.gradient_clip_val is None


@pytest.fixture
def clipped_gradients(monkeypatch, loop):
    """(max |grad|, total 2-norm) of the gradients each optimizer step applies, after clipping. The Trainer computes
    them inside optimizer.step (its closure), so there they are read where it clips; the Fabric loop computes them
    before optimizer.step, so there they are read as the step starts."""
    seen = []

    def record(parameters):
        grads = [p.grad for p in parameters if p.grad is not None]
        seen.append((max(float(g.abs().max()) for g in grads),
                     float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))))

    if loop == "trainer":
        def probe(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
            pl.LightningModule.configure_gradient_clipping(self, optimizer, gradient_clip_val, gradient_clip_algorithm)
            record(self.net.parameters())

        monkeypatch.setattr(TrainingModule, "configure_gradient_clipping", probe)
        yield seen
        return
    handle = register_optimizer_step_pre_hook(
        lambda optimizer, args, kwargs: record(p for group in optimizer.param_groups for p in group["params"]))
    yield seen
    handle.remove()


@LOOPS
def test_clipping_by_value_bounds_every_gradient(mixed_frame, tmp_path, clipped_gradients, loop):
    bound = 1e-3
    fit(mixed_frame, tmp_path, name="off", loop=loop, **{"optimization.max_steps": 8,
                                                         "optimization.gradient_clip_val": 0})
    unclipped = [largest for largest, _ in clipped_gradients]
    clipped_gradients.clear()
    fit(mixed_frame, tmp_path, name="value", loop=loop, **{"optimization.max_steps": 8,
                                                           "optimization.gradient_clip_val": bound,
                                                           "optimization.gradient_clip_algorithm": "value"})
    clipped = [largest for largest, _ in clipped_gradients]
    assert len(unclipped) == len(clipped) == 8
    assert max(unclipped) > 10 * bound                 # without clipping the bound would be exceeded
    assert max(clipped) <= bound * (1 + 1e-6)
    assert max(clipped) == pytest.approx(bound)         # and clipping is what holds them there


@LOOPS
def test_clipping_by_norm_bounds_the_total_norm(mixed_frame, tmp_path, clipped_gradients, loop):
    bound = 0.05
    fit(mixed_frame, tmp_path, loop=loop, **{"optimization.max_steps": 8, "optimization.gradient_clip_val": bound,
                                  "optimization.gradient_clip_algorithm": "norm"})
    norms = [norm for _, norm in clipped_gradients]
    assert len(norms) == 8
    assert max(norms) <= bound * (1 + 1e-4)
    assert max(norms) == pytest.approx(bound, rel=1e-3)


@LOOPS
def test_track_grad_norm_logs_gradient_norms(mixed_frame, tmp_path, loop):
    keys = {"optimization.max_epochs": 1, "optimization.log_every_n_steps": 1}
    tracked = training_log(fit(mixed_frame, tmp_path, name="tracked", loop=loop, **keys,
                               **{"optimization.track_grad_norm": 2}))
    untracked = training_log(fit(mixed_frame, tmp_path, name="off", loop=loop, **keys,
                                 **{"optimization.track_grad_norm": -1}))
    norm_columns = [c for c in tracked.columns if c.startswith("grad_2.0_norm")]
    assert "grad_2.0_norm_total" in norm_columns
    assert any("head.weight" in c for c in norm_columns)
    total = tracked["grad_2.0_norm_total"].dropna()
    assert len(total) == BATCHES_PER_EPOCH and (total > 0).all()
    assert not [c for c in untracked.columns if "grad" in c and "norm" in c]


@LOOPS
@pytest.mark.parametrize("every, rows", [(1, 20), (5, 4), (10, 2)])
def test_log_every_n_steps_sets_how_many_train_loss_rows_are_logged(mixed_frame, tmp_path, every, rows, loop):
    predictor = fit(mixed_frame, tmp_path, loop=loop, **{"optimization.max_epochs": 2,
                                                         "optimization.log_every_n_steps": every})
    logged = training_log(predictor).dropna(subset=["train_loss"])
    assert len(logged) == rows
    assert (logged["step"] % every == every - 1).all()   # rows at steps every-1, 2*every-1, ...


# ---------------------------------------------------------------- checkpoints and soups

@pytest.fixture(scope="module")
def regression_split():
    rng = np.random.default_rng(3)
    n = 360
    x = rng.normal(size=(n, 3))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2],
                          "y": 10 + 3 * x[:, 0] - 2 * x[:, 1] * x[:, 2] + rng.normal(scale=0.5, size=n)})
    return frame.iloc[:280], frame.iloc[280:]


SOUP_KEYS = {"optimization.max_epochs": 3, "optimization.val_check_interval": 0.5, "optimization.top_k": 3,
             "optimization.patience": 100}


@pytest.fixture(scope="module")
def soups(regression_split, tmp_path_factory):
    """One fit per top_k_average_method on the same data and seed; rmse on the tuning data (lower is better)."""
    train, tuning = regression_split
    fitted = {}
    for method in ("best", "uniform_soup", "greedy_soup", "last"):
        predictor = MultiModalPredictor(label="y", path=str(tmp_path_factory.mktemp(method)), verbosity=0)
        predictor.fit(train, tuning_data=tuning,
                      hyperparameters=fast(**SOUP_KEYS, **{"optimization.top_k_average_method": method}))
        fitted[method] = predictor
    return fitted


def test_top_k_keeps_the_k_best_checkpoints(soups):
    for method, predictor in soups.items():
        summary = predictor.fit_summary()
        assert summary["eval_metric"] == "rmse"
        scores = [c["score"] for c in summary["checkpoints"]]
        assert len(scores) == 3, method
        assert scores == sorted(scores), method           # best (lowest rmse) first
        logged = training_log(predictor)["val_score"].dropna()
        assert len(logged) == 6
        # The kept checkpoints are the three best validations (val_score is logged as -rmse).
        assert sorted(-logged)[:3] == pytest.approx(scores, rel=1e-5)


def test_last_keeps_the_final_weights(soups, regression_split):
    summary = soups["last"].fit_summary()
    assert summary["soup"] == "last" and summary["checkpoints_averaged"] == 0
    final = -training_log(soups["last"])["val_score"].dropna().iloc[-1]     # the last validation, as rmse
    assert summary["val_score"] == pytest.approx(final, rel=1e-3)


def test_best_uses_only_the_best_checkpoint(soups, regression_split):
    summary = soups["best"].fit_summary()
    assert summary["soup"] == "best" and summary["checkpoints_averaged"] == 1
    assert summary["val_score"] == pytest.approx(summary["checkpoints"][0]["score"], rel=1e-5)
    _, tuning = regression_split
    assert soups["best"].evaluate(tuning)["rmse"] == pytest.approx(summary["val_score"], rel=1e-4)


def test_uniform_soup_averages_all_top_k(soups, regression_split):
    summary = soups["uniform_soup"].fit_summary()
    assert summary["soup"] == "uniform_soup" and summary["checkpoints_averaged"] == 3
    _, tuning = regression_split
    assert soups["uniform_soup"].evaluate(tuning)["rmse"] == pytest.approx(summary["val_score"], rel=1e-4)


def test_greedy_soup_never_scores_below_the_best_checkpoint(soups, regression_split):
    summary = soups["greedy_soup"].fit_summary()
    assert summary["soup"] == "greedy_soup"
    assert 1 <= summary["checkpoints_averaged"] <= 3
    best_single = min(c["score"] for c in summary["checkpoints"])      # rmse: lower is better
    assert summary["val_score"] <= best_single * (1 + 1e-5)
    _, tuning = regression_split
    assert soups["greedy_soup"].evaluate(tuning)["rmse"] == pytest.approx(summary["val_score"], rel=1e-4)


def test_greedy_soup_on_a_higher_is_better_metric(mixed_frame, tmp_path):
    # no linear start: its head scale may trade up to 1% of the soup's score for a smaller correction
    predictor = fit(mixed_frame, tmp_path, **{"optimization.top_k": 3, "optimization.max_epochs": 4,
                                              "optimization.top_k_average_method": "greedy_soup",
                                              "model.linear_start": False})
    summary = predictor.fit_summary()
    assert summary["eval_metric"] == "roc_auc" and summary["head_scale"] is None
    assert summary["val_score"] >= max(c["score"] for c in summary["checkpoints"]) - 1e-6


def test_top_k_one_keeps_one_checkpoint(mixed_frame, tmp_path):
    predictor = fit(mixed_frame, tmp_path, **{"optimization.top_k": 1, "optimization.max_epochs": 3,
                                              "optimization.top_k_average_method": "uniform_soup"})
    summary = predictor.fit_summary()
    assert len(summary["checkpoints"]) == 1 and summary["checkpoints_averaged"] == 1


# ---------------------------------------------------------------- parameter-efficient fine-tuning

def _is_layer_norm_param(name: str) -> bool:
    # In the MLP blocks (Linear, LayerNorm, GELU, Dropout) the LayerNorm is sub-module 1.
    return ".1.weight" in name or ".1.bias" in name


TRAINABLE = {
    "bit_fit": lambda n: n.endswith("bias"),
    "norm_fit": lambda n: n.endswith("bias") or _is_layer_norm_param(n),
    "lora": lambda n: "lora_" in n,
    "ia3": lambda n: "ia3_" in n,
}


@pytest.fixture
def initial_weights(monkeypatch):
    """The weights of each network fit() builds, before any adapter is added or any step taken."""
    return record_calls(monkeypatch, network_module, "build_net",
                        keep=lambda net: {k: v.detach().clone() for k, v in net.state_dict().items()})


@pytest.mark.parametrize("method", ["bit_fit", "norm_fit", "lora", "ia3"])
def test_efficient_finetune_trains_only_the_intended_parameters(mixed_frame, tmp_path, method, initial_weights):
    predictor = fit(mixed_frame, tmp_path, **{"optimization.efficient_finetune": method, "optimization.max_epochs": 2})
    summary = predictor.fit_summary()
    net = predictor._learner.model.net
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    expected = {n for n, _ in net.named_parameters() if n.startswith("head.") or TRAINABLE[method](n)}
    assert trainable == expected
    assert any(not n.startswith("head.") for n in trainable)
    assert 0 < summary["trainable_parameters"] < summary["num_parameters"]
    assert summary["trainable_parameters"] == sum(p.numel() for n, p in net.named_parameters() if n in trainable)
    # Frozen weights are exactly as built; the head has moved.
    initial = initial_weights[0]
    final = net.state_dict()
    frozen = [name for name, _ in net.named_parameters() if name not in trainable]
    assert frozen
    for name in frozen:   # peft moves a wrapped layer's own weights under .base_layer
        assert torch.equal(final[name], initial[name.replace(".base_layer", "")]), name
    assert not torch.equal(final["head.weight"], initial["head.weight"])


def test_lora_predictor_saves_and_loads_identically(mixed_frame, tmp_path):
    predictor = fit(mixed_frame, tmp_path, **{"optimization.efficient_finetune": "lora",
                                              "optimization.max_epochs": 3})
    assert any("lora_B" in n for n in predictor._learner.model.net.state_dict())
    lora_b = [v for n, v in predictor._learner.model.net.state_dict().items() if "lora_B" in n]
    assert any(v.abs().sum() > 0 for v in lora_b)        # the adapters trained away from their zero start
    loaded = MultiModalPredictor.load(predictor.path)
    expected = predictor.predict_proba(mixed_frame)
    got = loaded.predict_proba(mixed_frame)
    assert np.array_equal(expected.to_numpy(), got.to_numpy())
    assert loaded.fit_summary()["trainable_parameters"] == predictor.fit_summary()["trainable_parameters"]


# ---------------------------------------------------------------- env.*

@pytest.mark.parametrize("per_gpu, batch, accumulate", [(16, 64, 4), (32, 32, 1), (32, 16, 1), (8, 20, 2)])
@LOOPS
def test_batch_size_over_per_gpu_batch_size_accumulates_gradients(mixed_frame, tmp_path, trainers, per_gpu, batch,
                                                                  accumulate, loop):
    predictor = fit(mixed_frame, tmp_path, loop=loop, **{"env.per_gpu_batch_size": per_gpu, "env.batch_size": batch,
                                                         "optimization.max_epochs": 1, "env.num_gpus": 0})
    if loop == "trainer":
        assert trainers[0].accumulate_grad_batches == accumulate
    batches = -(-320 // per_gpu)
    assert predictor.fit_summary()["global_step"] == -(-batches // accumulate)   # the last, short group steps too


@pytest.mark.parametrize("precision, expected", [(16, "32-true"), ("bf16", "bf16-mixed"), (32, "32-true"),
                                                 ("16-true", "16-true")])
@LOOPS
def test_precision_on_the_cpu(mixed_frame, tmp_path, trainers, precision, expected, loop):
    predictor = fit(mixed_frame, tmp_path, loop=loop, **{"env.precision": precision, "env.num_gpus": 0,
                                                         "optimization.max_epochs": 2})
    summary = predictor.fit_summary()
    assert summary["accelerator"] == "cpu"
    assert summary["precision"] == expected
    if loop == "trainer":
        assert trainers[0].precision == expected
    assert summary["val_score"] > 0.8
    assert predictor.predict_proba(mixed_frame).to_numpy().dtype == np.float32


@LOOPS
def test_mixed_precision_keeps_a_regression_batch_in_32_bits(regression_split, tmp_path, loop):
    """bf16-mixed computes in 16 bits under autocast, but the labels and features it is fed stay float32."""
    train, tuning = regression_split
    predictor = MultiModalPredictor(label="y", path=str(tmp_path / "model"), verbosity=0)
    predictor.fit(train, tuning_data=tuning, hyperparameters=fast(**{"env.precision": "bf16", "env.num_gpus": 0,
                                                                      "optimization.max_epochs": 3}),
                  callbacks=callbacks_for(loop))
    summary = predictor.fit_summary()
    assert summary["precision"] == "bf16-mixed" and summary["training_loop"] == loop
    assert summary["val_score"] == pytest.approx(predictor.evaluate(tuning)["rmse"], rel=1e-4)


@pytest.mark.parametrize("precision, dtype", [(64, torch.float64), ("bf16-true", torch.bfloat16),
                                              ("16-true", torch.float16)])
@LOOPS
def test_whole_network_precisions_train_soup_and_predict_on_the_cpu(mixed_frame, tmp_path, precision, dtype, loop):
    predictor = fit(mixed_frame, tmp_path, loop=loop, **{"env.precision": precision, "env.num_gpus": 0,
                                              "optimization.max_epochs": 4, "optimization.top_k": 3,
                                              "optimization.top_k_average_method": "uniform_soup"})
    summary = predictor.fit_summary()
    assert next(predictor._learner.model.net.parameters()).dtype == dtype
    assert summary["checkpoints_averaged"] == 3                 # the soup ran in the network's dtype
    assert summary["val_score"] > 0.8
    proba = predictor.predict_proba(mixed_frame)
    assert np.isfinite(proba.to_numpy()).all()
    loaded = MultiModalPredictor.load(predictor.path)
    assert next(loaded._learner.model.net.parameters()).dtype == dtype      # it predicts in the precision it trained in
    np.testing.assert_allclose(loaded.predict_proba(mixed_frame).to_numpy(), proba.to_numpy(), atol=1e-6)


def test_worker_and_evaluation_batch_keys_reach_the_loaders(mixed_frame, tmp_path, monkeypatch):
    loaders = record_calls(monkeypatch, network_module, "make_loader")
    predictor = fit(mixed_frame, tmp_path, **{"env.per_gpu_batch_size": 16, "env.batch_size": 16,
                                              "env.eval_batch_size_ratio": 3, "env.num_workers": 1,
                                              "env.num_workers_evaluation": 1, "optimization.max_epochs": 1})
    train, val = loaders[0], loaders[1]
    assert train.num_workers == 1 and max(len(b) for b in train.sampler) == 16
    assert val.num_workers == 1 and max(len(b) for b in val.sampler) == 48
    assert predictor._learner.model.batch_size == 48 and predictor._learner.model.num_workers == 1
    predictor.predict(mixed_frame)                  # 400 rows: batches of 48 through one worker process
    assert loaders[-1].num_workers == 1 and max(len(b) for b in loaders[-1].sampler) == 48


def test_compile_mode_and_dynamic_reach_torch_compile(mixed_frame, tmp_path, monkeypatch):
    calls = []
    compile_ = torch.compile
    monkeypatch.setattr(torch, "compile", lambda net, **kw: calls.append(kw) or compile_(net, **kw))
    fit(mixed_frame, tmp_path, **{"env.compile.turn_on": True, "env.compile.backend": "eager",
                                  "env.compile.mode": "max-autotune", "env.compile.dynamic": False,
                                  "optimization.max_epochs": 1})
    assert calls == [{"mode": "max-autotune", "dynamic": False, "backend": "eager"}]


@pytest.mark.parametrize("auto_select, expected", [(True, [1, 3]), (False, [0, 1])])
def test_auto_select_gpus_picks_the_gpus_with_the_most_free_memory(monkeypatch, auto_select, expected):
    free = {0: 1e9, 1: 8e9, 2: 2e9, 3: 6e9}
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda i: (free[i], 16e9))
    assert trainer_module._pick_gpus(2, auto_select) == expected


@LOOPS
def test_compile_with_the_eager_backend_still_trains(mixed_frame, tmp_path, monkeypatch, loop):
    from automodal.training import fabric_loop

    modules = record_calls(monkeypatch, network_module, "build_trainer", keep=lambda trainer: trainer)
    train_on_fabric = fabric_loop.train

    def recording(config, plan, module, *args):
        modules.append(module)
        return train_on_fabric(config, plan, module, *args)

    monkeypatch.setattr(fabric_loop, "train", recording)
    predictor = fit(mixed_frame, tmp_path, loop=loop, **{"env.compile.turn_on": True, "env.compile.backend": "eager",
                                                         "optimization.max_epochs": 3})
    module = modules[0] if loop == "fabric" else modules[0].lightning_module
    assert isinstance(module.forward_net, torch._dynamo.eval_frame.OptimizedModule)
    assert module.forward_net is not module.net
    summary = predictor.fit_summary()
    assert summary["global_step"] == 3 * BATCHES_PER_EPOCH
    assert summary["val_score"] > 0.85
    assert predictor.evaluate(mixed_frame)["roc_auc"] > 0.85


# ---------------------------------------------------------------- distillation

@pytest.fixture
def teacher(mixed_frame, tmp_path):
    return fit(mixed_frame, tmp_path, name="teacher", **{"optimization.max_epochs": 6})


STEP_KEYS = {"optimization.max_steps": 2, "optimization.log_every_n_steps": 1}


def first_loss(predictor) -> float:
    return float(train_loss_rows(predictor).iloc[0])


def test_distillation_fits_a_student_that_follows_the_teacher(mixed_frame, tmp_path, teacher):
    student = fit(mixed_frame, tmp_path, name="student", teacher=teacher,
                  **{"optimization.max_epochs": 6, "model.numerical_mlp.hidden_size": 16,
                     "model.categorical_mlp.hidden_size": 8, "model.fusion_mlp.hidden_size": 16})
    assert student.fit_summary()["num_parameters"] < teacher.fit_summary()["num_parameters"]
    assert student.evaluate(mixed_frame)["roc_auc"] > 0.85
    agreement = (student.predict(mixed_frame) == teacher.predict(mixed_frame)).mean()
    assert agreement > 0.85


def test_distiller_keys_change_the_training_loss(mixed_frame, tmp_path, teacher):
    def first_distilled_loss(name, **keys):
        return first_loss(fit(mixed_frame, tmp_path, name=name, teacher=teacher, **STEP_KEYS, **keys))

    # Same seed, same first batch, same initial student: only the distiller keys differ.
    hard = first_distilled_loss("hard", **{"distiller.hard_label_weight": 1, "distiller.soft_label_weight": 0})
    soft_t5 = first_distilled_loss("t5", **{"distiller.hard_label_weight": 0, "distiller.soft_label_weight": 1,
                                            "distiller.temperature": 5})
    soft_t1 = first_distilled_loss("t1", **{"distiller.hard_label_weight": 0, "distiller.soft_label_weight": 1,
                                            "distiller.temperature": 1})
    default = first_distilled_loss("default")                     # hard 0.2, soft 50, temperature 5
    mse = first_distilled_loss("mse", **{"distiller.hard_label_weight": 0, "distiller.soft_label_weight": 1,
                                         "distiller.soft_label_loss_type": "mse"})
    assert default == pytest.approx(0.2 * hard + 50 * soft_t5, rel=1e-4)
    assert soft_t1 != pytest.approx(soft_t5, rel=1e-3)   # an untrained student is near 0.5 at any temperature
    assert mse != pytest.approx(soft_t5, rel=1e-2)
    # A student's first hard loss is the cross-entropy of an untrained binary model: near log 2.
    plain = first_loss(fit(mixed_frame, tmp_path, name="plain", **STEP_KEYS))
    assert hard == pytest.approx(plain, rel=0.2)


def test_distillation_of_a_regression_teacher(regression_frame, tmp_path):
    teacher = fit(regression_frame, tmp_path, label="y", name="teacher", **{"optimization.max_epochs": 4})
    student = fit(regression_frame, tmp_path, label="y", name="student", teacher=teacher,
                  **{"optimization.max_epochs": 4})
    baseline = float(np.sqrt(((regression_frame["y"] - regression_frame["y"].mean()) ** 2).mean()))
    assert student.evaluate(regression_frame)["rmse"] < 0.5 * baseline
    # The soft targets are the teacher's values on the label's scale (mse against them by default).
    assert np.corrcoef(student.predict(regression_frame), teacher.predict(regression_frame))[0, 1] > 0.95


# ---------------------------------------------------------------- the Distillation loss itself

def distillation(problem_type="binary", **keys):
    return Distillation(resolve_config(hyperparameters=keys), problem_type)


def reference_soft_cross_entropy(student, teacher, temperature):
    t = np.exp(teacher / temperature)
    t /= t.sum(axis=1, keepdims=True)
    s = student / temperature
    log_s = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    return float(-(t * log_s).sum(axis=1).mean())


STUDENT = torch.tensor([[2.0, -1.0, 0.5], [0.0, 1.0, 3.0]])
TEACHER = torch.tensor([[4.0, 0.0, -2.0], [-1.0, 2.0, 1.0]])


def test_default_soft_loss_types():
    assert distillation("binary").loss_type == "cross_entropy"
    assert distillation("multiclass").loss_type == "cross_entropy"
    assert distillation("regression").loss_type == "mse"
    assert distillation("binary", **{"distiller.soft_label_loss_type": "mse"}).loss_type == "mse"


@pytest.mark.parametrize("temperature", [1, 2.5, 5])
def test_soft_cross_entropy_uses_the_temperature(temperature):
    d = distillation(**{"distiller.temperature": temperature})
    got = float(d.soft_loss(STUDENT, TEACHER))
    assert got == pytest.approx(reference_soft_cross_entropy(STUDENT.numpy(), TEACHER.numpy(), temperature), rel=1e-5)


def test_temperature_changes_the_soft_loss():
    losses = [float(distillation(**{"distiller.temperature": t}).soft_loss(STUDENT, TEACHER)) for t in (1, 2, 5)]
    assert len({round(v, 6) for v in losses}) == 3


def test_soft_cross_entropy_is_smallest_when_the_student_matches_the_teacher():
    d = distillation(**{"distiller.temperature": 2})
    matched = float(d.soft_loss(TEACHER, TEACHER))
    assert float(d.soft_loss(STUDENT, TEACHER)) > matched
    student = TEACHER.clone().requires_grad_(True)
    d.soft_loss(student, TEACHER).backward()
    assert torch.allclose(student.grad, torch.zeros_like(student.grad), atol=1e-6)


@pytest.mark.parametrize("temperature", [1, 4])
def test_mse_soft_loss_scales_with_the_temperature(temperature):
    d = distillation("regression", **{"distiller.temperature": temperature})
    student, teacher = torch.tensor([[1.0], [3.0]]), torch.tensor([[2.0], [1.0]])
    assert float(d.soft_loss(student, teacher)) == pytest.approx(((1 + 4) / 2) / temperature ** 2)
    assert float(d.soft_loss(teacher, teacher)) == 0.0


@pytest.mark.parametrize("hard_weight, soft_weight", [(0.2, 50), (1, 0), (0, 1), (0.5, 2)])
def test_the_loss_mixes_hard_and_soft_with_their_weights(hard_weight, soft_weight):
    d = distillation(**{"distiller.hard_label_weight": hard_weight, "distiller.soft_label_weight": soft_weight,
                        "distiller.temperature": 2})
    hard = torch.tensor(0.7)
    soft = d.soft_loss(STUDENT, TEACHER)
    assert float(d(hard, STUDENT, TEACHER)) == pytest.approx(hard_weight * 0.7 + soft_weight * float(soft), rel=1e-6)


def test_default_distiller_weights():
    d = distillation()
    assert (d.hard_weight, d.soft_weight, d.temperature) == (0.2, 50, 5)


@pytest.mark.parametrize("method", ["lora", "ia3", "lora_bias", "bit_fit"])
def test_every_trainable_parameter_of_a_transformer_gets_a_gradient(mixed_frame, tmp_path, method):
    names = ["numerical_transformer", "categorical_transformer", "fusion_transformer"]
    predictor = fit(mixed_frame, tmp_path, **{"optimization.efficient_finetune": method, "model.names": names,
                                              "optimization.max_epochs": 1})
    net = predictor._learner.model.net.train()
    batch = predictor._learner.model.pipeline.transform(mixed_frame.head(64), "rows")
    batch = {k: torch.as_tensor(v) for k, v in batch.items()}
    labels = torch.as_tensor(predictor._learner.model.label_processor.transform(mixed_frame.head(64)["label"]))
    torch.nn.functional.cross_entropy(net(batch), labels).backward()
    trainable = {n: p for n, p in net.named_parameters() if p.requires_grad}
    assert any("lora_" in n or "ia3_" in n or n.endswith("bias") for n in trainable)
    no_gradient = [n for n, p in trainable.items() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not no_gradient
    assert predictor.fit_summary()["trainable_parameters"] == sum(p.numel() for p in trainable.values())
