"""What each configuration key accepts, beyond the type of its default.

Types come from the default value in the group YAML files; this module adds allowed sets, ranges and the keys
whose values are not of one plain type.
"""

from ..metrics import ALIASES, METRICS

EFFICIENT_FINETUNE = (None, "bit_fit", "norm_fit", "lora", "lora_bias", "lora_norm", "ia3", "ia3_bias", "ia3_norm")
PRECISIONS = (16, 32, 64, "16", "32", "64", "bf16", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "32-true", "64-true")

CHOICES = {
    "optimization.optim_type": ("sgd", "adam", "adamw"),
    "optimization.lr_choice": ("layerwise_decay", "two_stages", ""),
    "optimization.lr_schedule": ("cosine_decay", "polynomial_decay", "linear_decay"),
    "optimization.gradient_clip_algorithm": ("norm", "value"),
    "optimization.top_k_average_method": ("greedy_soup", "uniform_soup", "best", "last"),
    "optimization.efficient_finetune": EFFICIENT_FINETUNE,
    "optimization.val_metric": (None, *METRICS, *ALIASES),
    "env.precision": PRECISIONS,
    "env.strategy": ("dp", "ddp", "ddp_spawn", "auto"),
    "env.accelerator": ("cpu", "gpu", "cuda", "auto"),
    "env.compile.mode": ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"),
    "model.hf_text.pooling_mode": ("cls", "mean"),
    "model.numerical_mlp.embedding": ("periodic", "none"),
    "data.numerical.transform": ("quantile", "standard"),
    "model.hf_text.tokenizer_name": ("hf_auto", "bert", "electra", "clip"),
    "model.mmdet_image.output_bbox_format": ("xyxy", "xywh"),
    "data.image.missing_value_strategy": ("skip", "zero"),
    "data.label.numerical_label_preprocessing": ("standardscaler", "minmaxscaler"),
    "data.mixup.mode": ("batch", "pair", "elem"),
    "distiller.soft_label_loss_type": (None, "cross_entropy", "mse"),
}

# (low, high, low_inclusive, high_inclusive); None means unbounded.
RANGES = {
    "optimization.learning_rate": (0, None, False, True),
    "optimization.weight_decay": (0, None, True, True),
    "optimization.lr_decay": (0, 1, False, True),
    "optimization.lr_mult": (0, None, False, True),
    "optimization.max_epochs": (1, None, True, True),
    "optimization.warmup_steps": (0, 1, True, True),
    "optimization.patience": (0, None, True, True),
    "optimization.gradient_clip_val": (0, None, True, True),
    "optimization.log_every_n_steps": (1, None, True, True),
    "optimization.top_k": (1, None, True, True),
    "optimization.bag_folds": (0, None, True, True),
    "env.num_gpus": (-1, None, True, True),
    "env.num_processes": (1, None, True, True),
    "env.num_nodes": (1, None, True, True),
    "env.per_gpu_batch_size": (1, None, True, True),
    "env.batch_size": (1, None, True, True),
    "env.eval_batch_size_ratio": (1, None, True, True),
    "env.num_workers": (0, None, True, True),
    "env.num_workers_evaluation": (0, None, True, True),
    "model.hf_text.text_segment_num": (1, None, True, True),
    "model.hf_text.text_aug_detect_length": (0, None, True, True),
    "model.hf_text.text_trivial_aug_maxscale": (0, 1, True, True),
    "model.ensemble_size": (1, None, True, True),
    "model.hashed_text.num_buckets": (16, None, True, True),
    "model.hashed_text.embedding_dim": (1, None, True, True),
    "model.ft_transformer.num_blocks": (1, None, True, True),
    "model.ft_transformer.token_dim": (1, None, True, True),
    "model.ft_transformer.hidden_size": (8, None, True, True),
    "model.ft_transformer.ffn_hidden_size": (1, None, True, True),
    "model.categorical_mlp.hidden_size": (1, None, True, True),
    "model.categorical_mlp.num_layers": (0, None, True, True),
    "model.categorical_mlp.drop_rate": (0, 1, True, False),
    "model.numerical_mlp.hidden_size": (1, None, True, True),
    "model.numerical_mlp.num_layers": (0, None, True, True),
    "model.numerical_mlp.drop_rate": (0, 1, True, False),
    "model.fusion_mlp.hidden_size": (1, None, True, True),
    "model.fusion_mlp.num_layers": (0, None, True, True),
    "model.fusion_mlp.drop_rate": (0, 1, True, False),
    "model.sam.num_mask_tokens": (1, None, True, True),
    "data.mixup.mixup_alpha": (0, None, True, True),
    "data.mixup.cutmix_alpha": (0, None, True, True),
    "data.mixup.prob": (0, 1, True, True),
    "data.mixup.switch_prob": (0, 1, True, True),
    "data.mixup.label_smoothing": (0, 1, True, False),
    "data.mixup.turn_off_epoch": (0, None, True, True),
    "distiller.temperature": (0, None, False, True),
    "distiller.hard_label_weight": (0, None, True, True),
    "distiller.soft_label_weight": (0, None, True, True),
}

# Keys whose accepted type is not simply the type of the default.
SPECIAL_TYPES = {
    "optimization.val_check_interval": "val_check_interval",
    "optimization.track_grad_norm": "grad_norm",
    "optimization.max_steps": "steps",
    "optimization.gradient_clip_val": "number",
    "optimization.lr_mult": "number",
    "optimization.efficient_finetune": "choice",
    "optimization.val_metric": "choice",
    "env.precision": "choice",
    "distiller.soft_label_loss_type": "choice",
    "distiller.temperature": "number",
    "distiller.soft_label_weight": "number",
    "data.pos_label": "any",
    "model.ft_transformer.checkpoint_name": "optional_str",
    "model.timm_image.train_transforms": "transforms",
    "model.timm_image.val_transforms": "transforms",
    "model.clip.train_transforms": "transforms",
    "model.clip.val_transforms": "transforms",
    "model.clip.max_text_len": "int",
    "model.hf_text.text_trivial_aug_maxscale": "number",
    "model.hf_text.max_text_len": "int",
}
