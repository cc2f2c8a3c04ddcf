"""torch.hub entry points: one per shipped model, named with underscores.

    model = torch.hub.load("path/to/panet", "denoise_color", source="local")
    model = torch.hub.load("OWNER/panet", "sr_x4")          # a hosted copy, with the network

Each gives the trained network in eval mode with its card at ``model.card``;
``pretrained=False`` gives the same architecture with random weights.
"""

# Import names torch.hub checks before it imports this file (the base install's).
dependencies = ["torch", "numpy", "scipy", "PIL", "safetensors", "tifffile", "png", "yaml",
                "tqdm"]


def _entry(name: str):
    def load(pretrained: bool = True, **options):
        from panet.models import create_model
        from panet.pretrained import load_pretrained, pretrained_entry

        if pretrained:
            if options:
                raise TypeError(f"{name}: options are for pretrained=False (the weights fix "
                                f"the architecture), got {', '.join(options)}")
            return load_pretrained(name)
        entry = pretrained_entry(name)
        channels = {"in_channels": entry.channels} if entry.scale == 1 else {}
        return create_model(entry.model, **{**channels, **options})

    load.__name__ = name.replace("-", "_")
    load.__doc__ = f"The shipped model {name!r} (``pretrained=False``: random weights)."
    return load


def _entries() -> dict:
    from panet.pretrained import PRETRAINED

    return {entry.name.replace("-", "_"): _entry(entry.name) for entry in PRETRAINED}


globals().update(_entries())
