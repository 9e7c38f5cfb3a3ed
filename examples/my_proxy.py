"""An example proxy plugin: `harness run-proxies --plugin examples/my_proxy.py --proxies logit_var`."""

import torch

from proxies import register_proxy


@register_proxy("logit_var", higher_is_better=True, reference="example plugin (README)")
def logit_variance(model, inputs, labels=None) -> float:
    """Variance of the logits over the batch at initialisation: how differently the net sees inputs."""
    with torch.no_grad():
        return model(inputs).var(dim=0).mean().item()
