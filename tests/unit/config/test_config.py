"""Configuration keys: documented defaults, the three hyperparameter forms, aliases, validation and presets.

The (key, default) pairs and the example values below are copied from AutoGluon's "Customize AutoMM" tutorial
(the seed documents of this project), so the tests do not need those documents at run time.
"""

import pytest

from automodal import MultiModalPredictor
from automodal.config import default_flat, parse_hyperparameters, resolve_config
from automodal.errors import AutomodalError, ConfigError

DEFAULT_NAMES = ["hf_text", "timm_image", "clip", "categorical_mlp", "numerical_mlp", "fusion_mlp"]

# Every key of the optimization / env / model / data / distiller sections with its documented default.
DOCUMENTED_DEFAULTS = [
    # optimization
    ("optimization.learning_rate", 1.0e-4),
    ("optimization.optim_type", "adamw"),
    ("optimization.weight_decay", 1.0e-3),
    ("optimization.lr_decay", 0.9),
    ("optimization.lr_mult", 1),
    ("optimization.lr_choice", "layerwise_decay"),
    ("optimization.lr_schedule", "cosine_decay"),
    ("optimization.max_epochs", 10),
    ("optimization.max_steps", -1),
    ("optimization.warmup_steps", 0.1),
    ("optimization.patience", 10),
    ("optimization.val_check_interval", 0.5),
    ("optimization.gradient_clip_algorithm", "norm"),
    ("optimization.gradient_clip_val", 1),
    ("optimization.track_grad_norm", -1),
    ("optimization.log_every_n_steps", 10),
    ("optimization.top_k", 3),
    ("optimization.top_k_average_method", "greedy_soup"),
    ("optimization.efficient_finetune", None),
    # env
    ("env.num_gpus", -1),
    ("env.per_gpu_batch_size", 8),
    ("env.batch_size", 128),
    ("env.eval_batch_size_ratio", 4),
    ("env.precision", 16),
    ("env.num_workers", 2),
    ("env.auto_select_gpus", True),
    ("env.num_workers_evaluation", 2),
    ("env.strategy", "ddp_spawn"),
    ("env.accelerator", "auto"),
    ("env.compile.turn_on", False),
    ("env.compile.mode", "default"),
    ("env.compile.dynamic", True),
    ("env.compile.backend", "inductor"),
    # model
    ("model.names", DEFAULT_NAMES),
    ("model.hf_text.checkpoint_name", "google/electra-base-discriminator"),
    ("model.hf_text.pooling_mode", "cls"),
    ("model.hf_text.tokenizer_name", "hf_auto"),
    ("model.hf_text.max_text_len", 512),
    ("model.hf_text.insert_sep", True),
    ("model.hf_text.text_segment_num", 2),
    ("model.hf_text.stochastic_chunk", False),
    ("model.hf_text.text_aug_detect_length", 10),
    ("model.hf_text.text_trivial_aug_maxscale", 0),
    ("model.hf_text.gradient_checkpointing", False),
    ("model.timm_image.checkpoint_name", "swin_base_patch4_window7_224"),
    ("model.timm_image.train_transforms", ["resize_shorter_side", "center_crop", "trivial_augment"]),
    ("model.timm_image.val_transforms", ["resize_shorter_side", "center_crop"]),
    ("model.clip.checkpoint_name", "openai/clip-vit-base-patch32"),
    ("model.clip.max_text_len", 77),
    ("model.clip.train_transforms", ["resize_shorter_side", "center_crop", "trivial_augment"]),
    ("model.clip.val_transforms", ["resize_shorter_side", "center_crop"]),
    ("model.ft_transformer.checkpoint_name", None),
    ("model.ft_transformer.num_blocks", 3),
    ("model.ft_transformer.token_dim", 192),
    ("model.ft_transformer.hidden_size", 192),
    ("model.ft_transformer.ffn_hidden_size", 192),
    ("model.mmdet_image.checkpoint_name", "yolov3_mobilenetv2_8xb24-320-300e_coco"),
    ("model.mmdet_image.output_bbox_format", "xyxy"),
    ("model.mmdet_image.frozen_layers", []),  # the tutorial only shows an example value; AutoGluon's default is []
    ("model.sam.checkpoint_name", "facebook/sam-vit-huge"),
    ("model.sam.train_transforms", ["random_horizontal_flip"]),
    ("model.sam.img_transforms", ["resize_to_square"]),
    ("model.sam.gt_transforms", ["resize_gt_to_square"]),
    ("model.sam.num_mask_tokens", 1),
    ("model.sam.ignore_label", 255),
    # data
    ("data.image.missing_value_strategy", "skip"),
    ("data.text.normalize_text", False),
    ("data.categorical.convert_to_text", True),
    ("data.numerical.convert_to_text", False),
    ("data.numerical.scaler_with_mean", True),
    ("data.numerical.scaler_with_std", True),
    ("data.label.numerical_label_preprocessing", "standardscaler"),
    ("data.pos_label", None),
    ("data.mixup.turn_on", False),
    ("data.mixup.mixup_alpha", 0.8),
    ("data.mixup.cutmix_alpha", 1.0),
    ("data.mixup.prob", 1.0),
    ("data.mixup.switch_prob", 0.5),
    ("data.mixup.mode", "batch"),
    ("data.mixup.label_smoothing", 0.1),
    ("data.mixup.turn_off_epoch", 5),
    # distiller (soft_label_loss_type: the tutorial gives cross_entropy for classification and mse for
    # regression; the key defaults to null, which resolves per task; see test_soft_label_loss_type_null_...)
    ("distiller.soft_label_loss_type", None),
    ("distiller.temperature", 5),
    ("distiller.hard_label_weight", 0.2),
    ("distiller.soft_label_weight", 50),
]
DOCUMENTED_KEYS = [key for key, _ in DOCUMENTED_DEFAULTS]


class _Transform:
    """Stands in for a torchvision transform object (any callable)."""

    def __call__(self, image):
        return image


# (key, a non-default value the tutorial shows, the value the resolved configuration must hold)
EXAMPLES = [
    ("optimization.learning_rate", 5.0e-4, 5.0e-4),
    ("optimization.optim_type", "adam", "adam"),
    ("optimization.weight_decay", 1.0e-4, 1.0e-4),
    ("optimization.lr_decay", 1, 1),
    ("optimization.lr_mult", 10, 10),
    ("optimization.lr_choice", "two_stages", "two_stages"),
    ("optimization.lr_schedule", "polynomial_decay", "polynomial_decay"),
    ("optimization.max_epochs", 20, 20),
    ("optimization.max_steps", 100, 100),
    ("optimization.warmup_steps", 0.2, 0.2),
    ("optimization.patience", 5, 5),
    ("optimization.val_check_interval", 0.25, 0.25),
    ("optimization.gradient_clip_algorithm", "value", "value"),
    ("optimization.gradient_clip_val", 5, 5),
    ("optimization.track_grad_norm", 2, 2),
    ("optimization.log_every_n_steps", 50, 50),
    ("optimization.top_k", 5, 5),
    ("optimization.top_k_average_method", "uniform_soup", "uniform_soup"),
    ("optimization.efficient_finetune", "ia3_bias", "ia3_bias"),
    ("env.num_gpus", 1, 1),
    ("env.per_gpu_batch_size", 16, 16),
    ("env.batch_size", 256, 256),
    ("env.eval_batch_size_ratio", 2, 2),
    ("env.precision", "bf16", "bf16"),
    ("env.num_workers", 4, 4),
    ("env.auto_select_gpus", False, False),
    ("env.num_workers_evaluation", 4, 4),
    ("env.strategy", "ddp", "ddp"),
    ("env.accelerator", "cpu", "cpu"),
    ("env.compile.turn_on", True, True),
    ("env.compile.mode", "reduce-overhead", "reduce-overhead"),
    ("env.compile.dynamic", False, False),
    ("env.compile.backend", "eager", "eager"),
    ("model.names", ["hf_text"], ["hf_text"]),
    ("model.hf_text.checkpoint_name", "roberta-base", "roberta-base"),
    ("model.hf_text.pooling_mode", "mean", "mean"),
    ("model.hf_text.tokenizer_name", "electra", "electra"),
    ("model.hf_text.max_text_len", -1, -1),
    ("model.hf_text.insert_sep", False, False),
    ("model.hf_text.text_segment_num", 1, 1),
    ("model.hf_text.stochastic_chunk", True, True),
    ("model.hf_text.text_aug_detect_length", 5, 5),
    ("model.hf_text.text_trivial_aug_maxscale", 0.1, 0.1),
    ("model.hf_text.gradient_checkpointing", True, True),
    ("model.timm_image.checkpoint_name", "vit_base_patch32_224", "vit_base_patch32_224"),
    ("model.timm_image.train_transforms", ["resize_shorter_side", "center_crop"],
     ["resize_shorter_side", "center_crop"]),
    ("model.timm_image.val_transforms", ["resize_shorter_side"], ["resize_shorter_side"]),
    ("model.clip.checkpoint_name", "openai/clip-vit-large-patch14", "openai/clip-vit-large-patch14"),
    ("model.clip.max_text_len", "-1", -1),
    ("model.clip.train_transforms", "random_horizontal_flip", ["random_horizontal_flip"]),
    ("model.clip.val_transforms", ["center_crop"], ["center_crop"]),
    ("model.ft_transformer.checkpoint_name", "weights/ft.safetensors", "weights/ft.safetensors"),
    ("model.ft_transformer.num_blocks", 2, 2),
    ("model.ft_transformer.token_dim", 64, 64),
    ("model.ft_transformer.hidden_size", 64, 64),
    ("model.ft_transformer.ffn_hidden_size", 128, 128),
    ("model.mmdet_image.checkpoint_name", "yolox_l", "yolox_l"),
    ("model.mmdet_image.output_bbox_format", "xywh", "xywh"),
    ("model.mmdet_image.frozen_layers", ["backbone", "neck"], ["backbone", "neck"]),
    ("model.sam.checkpoint_name", "facebook/sam-vit-base", "facebook/sam-vit-base"),
    ("model.sam.train_transforms", [], []),
    ("model.sam.img_transforms", ["resize_to_square"], ["resize_to_square"]),
    ("model.sam.gt_transforms", ["resize_gt_to_square"], ["resize_gt_to_square"]),
    ("model.sam.num_mask_tokens", 3, 3),
    ("model.sam.ignore_label", 0, 0),
    ("data.image.missing_value_strategy", "zero", "zero"),
    ("data.text.normalize_text", True, True),
    ("data.categorical.convert_to_text", False, False),
    ("data.numerical.convert_to_text", True, True),
    ("data.numerical.scaler_with_mean", False, False),
    ("data.numerical.scaler_with_std", False, False),
    ("data.label.numerical_label_preprocessing", "minmaxscaler", "minmaxscaler"),
    ("data.pos_label", "changed", "changed"),
    ("data.mixup.turn_on", True, True),
    ("data.mixup.mixup_alpha", 1.0, 1.0),
    ("data.mixup.cutmix_alpha", 0.8, 0.8),
    ("data.mixup.prob", 0.5, 0.5),
    ("data.mixup.switch_prob", 0.7, 0.7),
    ("data.mixup.mode", "pair", "pair"),
    ("data.mixup.label_smoothing", 0.2, 0.2),
    ("data.mixup.turn_off_epoch", 7, 7),
    ("distiller.soft_label_loss_type", "mse", "mse"),
    ("distiller.temperature", 1, 1),
    ("distiller.hard_label_weight", 1, 1),
    ("distiller.soft_label_weight", 1, 1),
]


def _same(actual, expected):
    """Equal and of the same type (so 1 is not True, and 0.9 is not "0.9")."""
    if isinstance(expected, bool) or expected is None:
        return actual is expected
    if isinstance(expected, float):
        return isinstance(actual, float) and actual == pytest.approx(expected)
    if isinstance(expected, int):
        return type(actual) is int and actual == expected
    return type(actual) is type(expected) and actual == expected


# ---------------------------------------------------------------- documented defaults

def test_the_lists_cover_every_documented_key_once():
    assert len(DOCUMENTED_KEYS) == len(set(DOCUMENTED_KEYS))
    assert sorted(k for k, _, _ in EXAMPLES) == sorted(DOCUMENTED_KEYS)


@pytest.mark.parametrize("key,default", DOCUMENTED_DEFAULTS, ids=DOCUMENTED_KEYS)
def test_documented_key_exists_with_its_default(key, default):
    defaults = default_flat()
    assert key in defaults, f"{key} is missing from the configuration"
    assert _same(defaults[key], default), f"{key}: default {defaults[key]!r}, documented {default!r}"
    # The resolved configuration (no preset, no overrides) holds the same value.
    config = resolve_config()
    assert _same(config[key], default)


def test_predictor_config_holds_the_documented_defaults():
    config = MultiModalPredictor(label="y").config
    for key, default in DOCUMENTED_DEFAULTS:
        node = config
        for part in key.split("."):
            node = node[part]
        assert _same(node, default), key


def test_default_flat_returns_a_copy():
    defaults = default_flat()
    defaults["model.names"].append("numerical_transformer")
    assert default_flat()["model.names"] == DEFAULT_NAMES


def test_soft_label_loss_type_null_resolves_per_task():
    from automodal.training.module import Distillation

    config = resolve_config()
    assert Distillation(config, "binary").loss_type == "cross_entropy"
    assert Distillation(config, "multiclass").loss_type == "cross_entropy"
    assert Distillation(config, "regression").loss_type == "mse"
    explicit = resolve_config(hyperparameters={"distiller.soft_label_loss_type": "mse"})
    assert Distillation(explicit, "binary").loss_type == "mse"


# ---------------------------------------------------------------- every key accepted as a fit() hyperparameter

@pytest.mark.parametrize("key,value,expected", EXAMPLES, ids=[k for k, _, _ in EXAMPLES])
def test_documented_key_is_accepted_as_hyperparameter(key, value, expected):
    config = resolve_config(hyperparameters={key: value})
    assert _same(config[key], expected), f"{key}: got {config[key]!r}"
    assert key in config.explicit
    # Other keys keep their defaults.
    untouched = "optimization.top_k" if key != "optimization.top_k" else "optimization.patience"
    assert config[untouched] == default_flat()[untouched]


def test_all_examples_at_once_through_the_predictor():
    predictor = MultiModalPredictor(label="y", hyperparameters={k: v for k, v, _ in EXAMPLES})
    config = predictor.config
    for key, _, expected in EXAMPLES:
        node = config
        for part in key.split("."):
            node = node[part]
        assert _same(node, expected), key


def test_transform_objects_are_accepted():
    transforms = [_Transform(), "center_crop"]
    config = resolve_config(hyperparameters={"model.timm_image.train_transforms": transforms})
    assert config["model.timm_image.train_transforms"] == transforms
    # Saved configurations record objects by repr, so they stay plain YAML.
    nested = config.to_nested()["model"]["timm_image"]["train_transforms"]
    assert all(isinstance(item, str) for item in nested)


@pytest.mark.parametrize("key,value,expected", [
    ("optimization.efficient_finetune", "bit_fit", "bit_fit"),
    ("optimization.efficient_finetune", "lora", "lora"),
    ("optimization.efficient_finetune", "None", None),
    ("optimization.lr_choice", "", ""),
    ("optimization.top_k_average_method", "best", "best"),
    ("optimization.track_grad_norm", "inf", "inf"),
    ("optimization.val_check_interval", 1.0, 1.0),
    ("optimization.val_check_interval", 50, 50),
    ("env.precision", 32, 32),
    ("env.precision", "16-mixed", "16-mixed"),
    ("env.precision", "bf16-mixed", "bf16-mixed"),
    ("env.precision", 64, 64),
    ("env.strategy", "dp", "dp"),
    ("env.accelerator", "gpu", "gpu"),
    ("distiller.soft_label_loss_type", "cross_entropy", "cross_entropy"),
    ("data.pos_label", 1, 1),
    ("model.names", "numerical_mlp", ["numerical_mlp"]),
])
def test_other_documented_values_are_accepted(key, value, expected):
    assert _same(resolve_config(hyperparameters={key: value})[key], expected)


# ---------------------------------------------------------------- the three hyperparameter forms

def test_dict_list_and_string_forms_resolve_the_same():
    as_dict = {"optimization.learning_rate": "1e-3", "optimization.max_epochs": "7",
               "data.numerical.scaler_with_mean": "false", "model.names": ["numerical_mlp", "fusion_mlp"]}
    as_list = ["optimization.learning_rate=1e-3", "optimization.max_epochs=7",
               "data.numerical.scaler_with_mean=false", "model.names=[numerical_mlp, fusion_mlp]"]
    configs = [resolve_config(hyperparameters=as_dict), resolve_config(hyperparameters=as_list)]
    for config in configs:
        assert config["optimization.learning_rate"] == pytest.approx(1e-3)
        assert isinstance(config["optimization.learning_rate"], float)
        assert config["optimization.max_epochs"] == 7 and isinstance(config["optimization.max_epochs"], int)
        assert config["data.numerical.scaler_with_mean"] is False
        assert config["model.names"] == ["numerical_mlp", "fusion_mlp"]


@pytest.mark.parametrize("form", [
    "optimization.learning_rate=1e-3",
    " optimization.learning_rate = 1e-3 ",
    ["optimization.learning_rate=1e-3"],
    ("optimization.learning_rate=1e-3",),
    {"optimization.learning_rate": "1e-3"},
    {"optimization": {"learning_rate": "1e-3"}},
    {"optimization.learning_rate": 1e-3},
])
def test_each_form_coerces_1e_3_to_a_float(form):
    value = resolve_config(hyperparameters=form)["optimization.learning_rate"]
    assert isinstance(value, float) and value == pytest.approx(1e-3)
    assert list(parse_hyperparameters(form)) == ["optimization.learning_rate"]


@pytest.mark.parametrize("key,raw,expected", [
    ("optimization.max_epochs", "20", 20),
    ("optimization.max_epochs", 20.0, 20),
    ("optimization.weight_decay", "1e-5", 1e-5),
    ("optimization.val_check_interval", "0.25", 0.25),
    ("optimization.val_check_interval", "3", 3),
    ("optimization.val_check_interval", "1e-1", 0.1),
    ("env.num_gpus", "0", 0),
    ("env.auto_select_gpus", "False", False),
    ("env.compile.turn_on", "true", True),
    ("distiller.temperature", "2.5", 2.5),
])
def test_string_values_are_coerced_to_the_key_type(key, raw, expected):
    for form in ({key: raw}, [f"{key}={raw}"], f"{key}={raw}"):
        value = resolve_config(hyperparameters=form)[key]
        assert value == expected and type(value) is type(expected), (form, value)


@pytest.mark.parametrize("raw,expected", [("no", "no"), ("yes", "yes"), ("off", "off"), ("changed", "changed"),
                                          ("1", 1), ("null", None), ("'no'", "no"), ("true", True)])
def test_pos_label_in_key_value_form_keeps_class_names(raw, expected):
    # YAML 1.1 reads no / yes / off as booleans; for data.pos_label they are class names.
    value = resolve_config(hyperparameters=[f"data.pos_label={raw}"])["data.pos_label"]
    assert value == expected and type(value) is type(expected)


def test_list_items_must_be_key_value_strings():
    with pytest.raises(ConfigError, match="key=value"):
        resolve_config(hyperparameters=["optimization.learning_rate"])
    with pytest.raises(ConfigError, match="hyperparameters must be"):
        resolve_config(hyperparameters=42)


# ---------------------------------------------------------------- aliases

@pytest.mark.parametrize("alias,key,value", [
    ("optim.lr", "optimization.learning_rate", 2e-3),
    ("optim.peft", "optimization.efficient_finetune", "lora"),
    ("optim.max_epochs", "optimization.max_epochs", 4),
    ("optim.top_k", "optimization.top_k", 1),
    ("optim.weight_decay", "optimization.weight_decay", 0.5),
    ("optim.lr_schedule", "optimization.lr_schedule", "linear_decay"),
    ("env.inference_batch_size_ratio", "env.eval_batch_size_ratio", 3),
    ("env.num_workers_inference", "env.num_workers_evaluation", 0),
])
def test_aliases_map_to_their_keys(alias, key, value):
    for form in ({alias: value}, [f"{alias}={value}"], f"{alias}={value}"):
        config = resolve_config(hyperparameters=form)
        assert config[key] == value, form
        assert key in config.explicit
        assert alias not in dict(config.items())
    assert parse_hyperparameters({alias: value}) == {key: value}


def test_aliases_in_nested_form_and_in_the_predictor_config():
    predictor = MultiModalPredictor(label="y", hyperparameters={"optim": {"lr": 5e-3, "peft": "bit_fit"}})
    config = predictor.config
    assert config["optimization"]["learning_rate"] == pytest.approx(5e-3)
    assert config["optimization"]["efficient_finetune"] == "bit_fit"
    assert "optim" not in config


def test_alias_values_are_validated_against_the_real_key():
    with pytest.raises(ConfigError, match="optimization.learning_rate"):
        resolve_config(hyperparameters={"optim.lr": -1})
    with pytest.raises(ConfigError, match="optimization.efficient_finetune"):
        resolve_config(hyperparameters={"optim.peft": "adapters"})


# ---------------------------------------------------------------- unknown keys

@pytest.mark.parametrize("key,suggestion", [
    ("optimization.learing_rate", "optimization.learning_rate"),
    ("optimization.max_epoch", "optimization.max_epochs"),
    ("env.per_gpu_batchsize", "env.per_gpu_batch_size"),
    ("model.numerical_mlp.hiden_size", "model.numerical_mlp.hidden_size"),
    ("data.numerical.scaler_with_means", "data.numerical.scaler_with_mean"),
    ("distiller.temprature", "distiller.temperature"),
])
def test_unknown_key_raises_naming_it_and_the_closest_key(key, suggestion):
    for form in ({key: 1}, [f"{key}=1"], f"{key}=1"):
        with pytest.raises(ConfigError) as info:
            resolve_config(hyperparameters=form)
        message = str(info.value)
        assert f"'{key}'" in message
        assert f"Did you mean '{suggestion}'" in message
    assert isinstance(info.value, AutomodalError)


def test_unknown_key_in_the_constructor_raises():
    with pytest.raises(ConfigError, match="optimization.learnig_rate"):
        MultiModalPredictor(label="y", hyperparameters={"optimization.learnig_rate": 1e-3})


def test_unknown_nested_key_names_the_dotted_key():
    with pytest.raises(ConfigError, match=r"'env\.num_worker'.*'env\.num_workers'"):
        resolve_config(hyperparameters={"env": {"num_worker": 1}})


def test_reading_an_unknown_key_from_a_config_raises_config_error():
    with pytest.raises(ConfigError, match="optimization.top_kk"):
        resolve_config()["optimization.top_kk"]


# ---------------------------------------------------------------- wrong types and disallowed values

@pytest.mark.parametrize("key,value,allowed", [
    ("optimization.learning_rate", "fast", "number"),
    ("optimization.learning_rate", True, "number"),
    ("optimization.learning_rate", float("nan"), "number"),
    ("optimization.max_epochs", 2.5, "integer"),
    ("optimization.max_epochs", "ten", "integer"),
    ("optimization.top_k", [3], "integer"),
    ("env.per_gpu_batch_size", "big", "integer"),
    ("env.auto_select_gpus", "maybe", "true or false"),
    ("data.numerical.scaler_with_mean", 2, "true or false"),
    ("model.hf_text.checkpoint_name", 5, "string"),
    ("model.names", 5, "list of strings"),
    ("model.names", ["numerical_mlp", 3], "list of strings"),
    ("model.ft_transformer.checkpoint_name", 3, "string path or null"),
    ("optimization.val_check_interval", "often", "(0, 1]"),
    ("optimization.val_check_interval", 1.5, "(0, 1]"),
    ("optimization.val_check_interval", 0, "(0, 1]"),
    ("optimization.max_steps", 0, "-1 (off) or a positive"),
    ("optimization.track_grad_norm", 0, "-1 (off), a positive p, or 'inf'"),
])
def test_wrong_type_raises_naming_key_and_what_is_allowed(key, value, allowed):
    with pytest.raises(ConfigError) as info:
        resolve_config(hyperparameters={key: value})
    message = str(info.value)
    assert f"'{key}'" in message and allowed in message, message


@pytest.mark.parametrize("key,value,allowed", [
    ("optimization.optim_type", "rmsprop", ["sgd", "adam", "adamw"]),
    ("optimization.lr_choice", "cyclic", ["layerwise_decay", "two_stages"]),
    ("optimization.lr_schedule", "step", ["cosine_decay", "polynomial_decay", "linear_decay"]),
    ("optimization.gradient_clip_algorithm", "max", ["norm", "value"]),
    ("optimization.top_k_average_method", "average", ["greedy_soup", "uniform_soup", "best", "last"]),
    ("optimization.efficient_finetune", "adapter",
     ["bit_fit", "norm_fit", "lora", "lora_bias", "lora_norm", "ia3", "ia3_bias", "ia3_norm"]),
    ("env.precision", 8, ["16", "32", "64", "bf16"]),
    ("env.precision", "half", ["16", "bf16"]),
    ("env.strategy", "fsdp", ["dp", "ddp", "ddp_spawn"]),
    ("env.accelerator", "tpu", ["cpu", "gpu", "auto"]),
    ("env.compile.mode", "fast", ["default", "reduce-overhead", "max-autotune"]),
    ("model.hf_text.pooling_mode", "max", ["cls", "mean"]),
    ("model.hf_text.tokenizer_name", "gpt2", ["hf_auto", "bert", "electra", "clip"]),
    ("model.mmdet_image.output_bbox_format", "cxcywh", ["xyxy", "xywh"]),
    ("data.image.missing_value_strategy", "drop", ["skip", "zero"]),
    ("data.label.numerical_label_preprocessing", "robustscaler", ["standardscaler", "minmaxscaler"]),
    ("data.mixup.mode", "row", ["batch", "pair", "elem"]),
    ("distiller.soft_label_loss_type", "kl", ["cross_entropy", "mse"]),
])
def test_value_outside_the_allowed_set_raises_listing_the_choices(key, value, allowed):
    for form in ({key: value}, [f"{key}={value}"]):
        with pytest.raises(ConfigError) as info:
            resolve_config(hyperparameters=form)
        message = str(info.value)
        assert f"'{key}'" in message and str(value) in message, message
        for choice in allowed:
            assert choice in message, (choice, message)


@pytest.mark.parametrize("key,value,span", [
    ("optimization.learning_rate", 0, "(0, inf]"),
    ("optimization.learning_rate", -1e-3, "(0, inf]"),
    ("optimization.weight_decay", -0.1, "[0, inf]"),
    ("optimization.lr_decay", 1.5, "(0, 1]"),
    ("optimization.warmup_steps", 1.5, "[0, 1]"),
    ("optimization.max_epochs", 0, "[1, inf]"),
    ("optimization.top_k", 0, "[1, inf]"),
    ("env.num_gpus", -2, "[-1, inf]"),
    ("env.per_gpu_batch_size", 0, "[1, inf]"),
    ("env.num_workers", -1, "[0, inf]"),
    ("model.numerical_mlp.drop_rate", 1.0, "[0, 1)"),
    ("model.hf_text.text_trivial_aug_maxscale", 2, "[0, 1]"),
    ("data.mixup.prob", 1.2, "[0, 1]"),
    ("distiller.temperature", 0, "(0, inf]"),
])
def test_value_outside_the_allowed_range_raises(key, value, span):
    with pytest.raises(ConfigError) as info:
        resolve_config(hyperparameters={key: value})
    message = str(info.value)
    assert f"'{key}'" in message and span in message, message


def test_float_precision_is_normalised_or_rejected():
    # 16.0 (e.g. from "env.precision=16.0") means 16; it must not pass validation and then fail inside fit().
    from automodal.training.trainer import plan_devices

    config = resolve_config(hyperparameters=["env.precision=16.0", "env.accelerator=cpu"])
    assert config["env.precision"] == 16
    assert plan_devices(config).precision == "32-true"  # 16-bit falls back to 32 on the CPU


def test_a_bad_value_in_the_constructor_raises():
    with pytest.raises(ConfigError, match="optimization.optim_type"):
        MultiModalPredictor(label="y", hyperparameters="optimization.optim_type=lamb")


# ---------------------------------------------------------------- presets

def test_medium_quality_preset_applies():
    config = resolve_config("medium_quality")
    assert config["model.hf_text.checkpoint_name"] == "google/electra-small-discriminator"
    assert config["model.timm_image.checkpoint_name"] == "mobilenetv3_large_100"
    assert config["model.numerical_mlp.hidden_size"] == 64
    assert config["model.categorical_mlp.hidden_size"] == 32
    assert config["model.fusion_mlp.hidden_size"] == 64
    assert config["model.names"] == DEFAULT_NAMES


def test_high_quality_preset_is_the_defaults():
    assert dict(resolve_config("high_quality").items()) == dict(resolve_config().items())


def test_best_quality_preset_uses_ft_transformers():
    config = resolve_config("best_quality")
    assert "numerical_transformer" in config["model.names"]
    assert "categorical_transformer" in config["model.names"]
    assert "fusion_transformer" in config["model.names"]
    assert "numerical_mlp" not in config["model.names"]
    assert config["model.hf_text.checkpoint_name"] == "microsoft/deberta-v3-base"
    assert config["optimization.max_epochs"] == 20


def test_presets_are_case_insensitive_and_reach_the_predictor():
    predictor = MultiModalPredictor(label="y", presets="Best_Quality")
    assert "fusion_transformer" in predictor.config["model"]["names"]


def test_hyperparameters_win_over_the_preset():
    config = resolve_config("best_quality", {"optimization.max_epochs": 3, "model.fusion_mlp.hidden_size": 16})
    assert config["optimization.max_epochs"] == 3
    assert config["model.fusion_mlp.hidden_size"] == 16
    assert config["model.hf_text.checkpoint_name"] == "microsoft/deberta-v3-base"


def test_a_preset_given_later_keeps_earlier_explicit_hyperparameters():
    # MultiModalPredictor(hyperparameters=...).fit(presets=...): the user's keys still win over the preset.
    base = resolve_config(None, {"optimization.max_epochs": 3})
    config = resolve_config("best_quality", None, base=base)
    assert config["optimization.max_epochs"] == 3
    assert "fusion_transformer" in config["model.names"]


@pytest.mark.parametrize("preset,suggestion", [("best_qualty", "best_quality"), ("medium", "medium_quality"),
                                               ("extreme_quality", None)])
def test_unknown_preset_errors(preset, suggestion):
    with pytest.raises(ConfigError) as info:
        resolve_config(preset)
    message = str(info.value)
    assert f"'{preset}'" in message
    for name in ("medium_quality", "high_quality", "best_quality"):
        assert name in message
    if suggestion:
        assert f"Did you mean '{suggestion}'" in message
    with pytest.raises(ConfigError):
        MultiModalPredictor(label="y", presets=preset)


# ---------------------------------------------------------------- model.names is checked against the registry

def test_unknown_model_name_is_accepted_by_the_config_but_fails_at_fit(mixed_frame, tmp_path):
    from conftest import fast

    hyperparameters = fast(**{"model.names": ["numerical_mlp", "categorical_mlpp", "fusion_mlp"]})
    predictor = MultiModalPredictor(label="label", path=str(tmp_path / "model"), verbosity=0)
    assert resolve_config(hyperparameters=hyperparameters)["model.names"][1] == "categorical_mlpp"
    with pytest.raises(ConfigError) as info:
        predictor.fit(mixed_frame, hyperparameters=hyperparameters)
    message = str(info.value)
    assert "'categorical_mlpp'" in message
    assert "Did you mean 'categorical_mlp'" in message
    with pytest.raises(AutomodalError):
        predictor.predict(mixed_frame)  # nothing was fitted
    assert not (tmp_path / "model").exists()
