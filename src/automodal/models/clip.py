"""clip: a CLIP model from transformers as a backbone of the image and text columns no dedicated backbone reads.

Only the towers the data needs are kept. A row's feature is its images' mean projected image embedding followed by
its text's projected embedding (taken at the end token, as CLIP does), each of CLIP's projection size.
"""

from __future__ import annotations

import torch
from torch import nn

from ..data.clip import ClipProcessor
from ..data.types import IMAGE, TEXT
from .checkpoints import quiet_loading
from .hf_text import last_token, padding_mask, transformer_layer_groups
from .registry import register
from .timm_image import mean_image_features

NAME = "clip"


class ClipBackbone(nn.Module):
    def __init__(self, name: str, checkpoint: str, pretrained: bool, image: bool, text: bool):
        super().__init__()
        from transformers import CLIPConfig, CLIPModel

        if pretrained:
            with quiet_loading():
                model = CLIPModel.from_pretrained(checkpoint)
        else:   # a saved predictor: its own weights follow
            model = CLIPModel(CLIPConfig.from_pretrained(checkpoint))
        self.name = name
        self.vision = model.vision_model if image else None
        self.visual_projection = model.visual_projection if image else None
        self.text = model.text_model if text else None
        self.text_projection = model.text_projection if text else None
        self.out_features = model.config.projection_dim * (int(image) + int(text))

    def _encode_images(self, images: torch.Tensor) -> torch.Tensor:
        return self.visual_projection(self.vision(pixel_values=images).pooler_output)

    def forward(self, batch: dict) -> torch.Tensor:
        features = []
        if self.vision is not None:
            features.append(mean_image_features(self._encode_images, batch, self.name))
        if self.text is not None:
            mask = batch[f"{self.name}.attention_mask"]
            hidden = self.text(input_ids=batch[f"{self.name}.input_ids"],
                               attention_mask=padding_mask(mask)).last_hidden_state
            # The processor ends every sequence with the end token, right before its padding.
            features.append(self.text_projection(last_token(hidden, mask)))
        return torch.cat(features, dim=1)

    def layer_groups(self) -> list:
        """Each tower's groups (embeddings, layers, final norm with projection), aligned at their last group."""
        towers = []
        for tower, projection in ((self.vision, self.visual_projection), (self.text, self.text_projection)):
            if tower is not None:
                groups = transformer_layer_groups(tower)
                groups[-1] = groups[-1] + list(projection.parameters())
                towers.append(groups)
        depth = max(len(groups) for groups in towers)
        merged = [[] for _ in range(depth)]
        for groups in towers:
            for i, group in enumerate(groups, start=depth - len(groups)):
                merged[i].extend(group)
        return merged


@register(NAME, (IMAGE, TEXT), processor=ClipProcessor, pretrained=True)
def build_clip(config: dict, inputs: dict) -> nn.Module:
    spec = inputs[NAME]
    return ClipBackbone(NAME, spec["checkpoint"], spec["pretrained"], spec["image"], spec["text"])
