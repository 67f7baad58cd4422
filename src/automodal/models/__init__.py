"""Model families behind a registry: name -> builder, as timm's create_model."""
