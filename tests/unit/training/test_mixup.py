import torch

from automodal.config import resolve_config
from automodal.training.mixup import BatchMixer, soft_cross_entropy


def mixer(**keys):
    return BatchMixer(resolve_config(hyperparameters={"data.mixup.turn_on": True, **keys}), num_classes=3)


def batch(rows=4, images=2):
    torch.manual_seed(0)
    return {"timm_image.images": torch.rand(rows, images, 3, 8, 8), "numerical": torch.rand(rows, 2),
            "label": torch.arange(rows) % 3}


def test_mixup_blends_each_rows_images_with_the_flipped_batch_and_softens_the_labels():
    mix = mixer(**{"data.mixup.cutmix_alpha": 0.0, "data.mixup.label_smoothing": 0.0})
    original = batch()
    mixed, targets = mix(original)
    x, y = original["timm_image.images"], mixed["timm_image.images"]
    lam = targets[1, original["label"][1]].item()     # row 1 (class 1) mixes with row 2 (class 2)
    # every image slot of a row mixes with the same partner row, with the same weight
    torch.testing.assert_close(y, lam * x + (1 - lam) * x.flip(0))
    assert torch.equal(mixed["numerical"], original["numerical"])          # other modalities are untouched
    torch.testing.assert_close(targets.sum(dim=1), torch.ones(4))
    assert (targets.max(dim=1).values < 1).any()


def test_cutmix_pastes_a_box_shared_by_a_rows_images():
    mix = mixer(**{"data.mixup.mixup_alpha": 0.0, "data.mixup.cutmix_alpha": 1.0, "data.mixup.label_smoothing": 0.0})
    original = batch()
    mixed, _ = mix(original)
    x, y = original["timm_image.images"], mixed["timm_image.images"]
    changed = (y != x).any(dim=2)                                      # (rows, images, H, W) pixels replaced
    assert changed.any()
    assert torch.equal(changed[:, 0], changed[:, 1])                   # the same box in both images of a row
    assert torch.equal(y[changed.unsqueeze(2).expand_as(y)], x.flip(0)[changed.unsqueeze(2).expand_as(y)])


def test_mixing_stops_at_turn_off_epoch_and_needs_images_and_even_pairs():
    mix = mixer(**{"data.mixup.turn_off_epoch": 2})
    assert mix.applies(batch(), epoch=1) and not mix.applies(batch(), epoch=2)
    assert not mix.applies({"numerical": torch.rand(4, 2), "label": torch.zeros(4)}, epoch=0)
    pair = mixer(**{"data.mixup.mode": "pair"})
    assert pair.applies(batch(rows=4), 0) and not pair.applies(batch(rows=3), 0)


def test_soft_cross_entropy_equals_cross_entropy_on_one_hot_targets():
    logits = torch.randn(5, 3)
    labels = torch.tensor([0, 2, 1, 1, 0])
    torch.testing.assert_close(soft_cross_entropy(logits, torch.nn.functional.one_hot(labels, 3).float()),
                               torch.nn.functional.cross_entropy(logits, labels))
