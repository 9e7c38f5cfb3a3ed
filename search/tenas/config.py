"""TE-NAS settings (`TenasConfig`, official NB201 defaults) and the record of which official
quirks a run reproduces (`quirk_options`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from harness.errors import InputError, unknown_name
from proxies.ntk import NTK_ENGINES

INITS = ("pytorch-default", "kaiming")
KAPPA_DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class TenasConfig:
    """Settings of one TE-NAS search; the defaults are the official NB201 ones (prune_launch.py)."""

    batch_size: int = 72  # NTK batch of training images (14 DARTS/CIFAR-10, 24 DARTS/ImageNet)
    repeats: int = 3  # Δκ and ΔR are averaged over this many measurements
    lr_samples: int = 1000  # crops per linear-region batch
    lr_batches: int = 3  # batches per linear-region count (3 x 1000 = 3000 samples)
    lr_patch: int = 3  # crop side (single channel, no padding)
    precision: int = 3  # decimals of the per-repeat rounding; significant figures of the sort key
    prune_number: int = 1  # ops removed per edge per round (3 DARTS/CIFAR-10, 2 DARTS/ImageNet)
    fixed_inputs: bool = False  # TEGNAS fix: the same inputs and networks for every call
    init: str = "pytorch-default"  # "kaiming": the intended Kaiming-normal re-init per repeat
    ntk_engine: str = "graph"  # proxies.ntk engine; the same kernel either way (speed only)
    kappa_dtype: str = "float32"  # eigenvalues in float32 as the official symeig; float64 optional
    nan_kappa: float = 100000.0  # official: a NaN κ becomes 1e5 (np.nan_to_num)
    trajectory: bool = (
        True  # also measure κ, R of the supernet after every round (not used to prune)
    )

    def __post_init__(self):
        for name in (
            "batch_size",
            "repeats",
            "lr_samples",
            "lr_batches",
            "lr_patch",
            "precision",
            "prune_number",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(
                    f"TE-NAS setting {name} must be a positive integer; got {value!r}."
                )
        if self.init not in INITS:
            raise unknown_name("init", self.init, INITS)
        if self.ntk_engine not in NTK_ENGINES:
            raise unknown_name("NTK engine", self.ntk_engine, NTK_ENGINES)
        if self.kappa_dtype not in KAPPA_DTYPES:
            raise unknown_name("kappa dtype", self.kappa_dtype, KAPPA_DTYPES)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def non_default(self) -> dict:
        """Settings that differ from the official defaults (they label the method)."""
        base = TenasConfig()
        return {k: v for k, v in self.to_dict().items() if v != getattr(base, k)}


def quirk_options(config: TenasConfig) -> dict:
    """Which official quirks are reproduced and which later fixes are on, for the result record."""
    return {
        "init": config.init,
        "init_note": (
            "PyTorch default init: the official init_model() never matches the launcher's "
            "'kaiming_normal', so no custom init runs (docs/tenas-spec.md §4)"
            if config.init == "pytorch-default"
            else "Kaiming-normal re-init before every repeat (fan_out NTK nets, fan_in thin nets; "
            "BN weight 1, bias 0) -- what the official code intended"
        ),
        "fixed_inputs": config.fixed_inputs,
        "fixed_inputs_note": (
            "TEGNAS fix: one NTK batch and one set of linear-region crops drawn once; repeat r uses "
            "the same network weights in every call; the origin's values are reused"
            if config.fixed_inputs
            else "official: one NTK origin net per round, a fresh random training batch per NTK call, new "
            "thin nets per candidate, crops from one persistent shuffled iterator"
        ),
        "leak_free_hooks": True,
        "leak_free_hooks_note": (
            "always on: ReLU hooks are removed after every count. The official hooks leak and "
            "duplicate activation columns in later repeats; duplicated columns cannot change the "
            "number of distinct rows, so R is identical"
        ),
        "none_forced_pruned": True,
        "nan_kappa": config.nan_kappa,
        "kappa_semantics": (
            f"κ = λmax/λmin of the {config.kappa_dtype} kernel's eigenvalues, raw (λmin <= 0 gives a "
            "negative or huge ratio); NaN -> nan_kappa and ±inf -> ±max float (np.nan_to_num), as the "
            "official get_ntk_n"
        ),
        "rounding": (
            "Δκ: round() of a numpy float64 (numpy rounding, as the official nan_to_num "
            "values); ΔR: round() of a Python float; sort key: official round_to (3 "
            "significant figures, eps 1e-8); ties: exact equality of averaged values"
        ),
        "linear_regions_count": (
            "exact number of distinct sign patterns (the official fp16 Hamming "
            "matmul with float32 1/group sums gives the same integer up to ~1e-4)"
        ),
        "ntk_kernel": "gradients in float32, kernel accumulated in float64 (official: float32 einsum)",
    }
