"""`harness train`: summarise or train the DARTS evaluation network of a genotype."""

from __future__ import annotations

import json

import click

from harness.errors import InputError, unknown_name
from training.config import DATASETS, PROTOCOLS, TrainConfig

SPACES = ("darts",)


def _shown(value) -> str:
    """A default as a person writes it: on/off, 5 not 5.0, 3e-4 not 0.0003."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        plain = f"{value:g}"
        mantissa, exponent = f"{value:e}".split("e")
        short = f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
        return short if len(short) < len(plain) else plain
    return str(value)


def _default(field: str, named: bool = False) -> str:
    """The help suffix of a `TrainConfig` field: its protocols' defaults, "cifar10 / imagenet" when
    they differ (`named`: with the dataset names), read from `PROTOCOLS` (never copied by hand)."""
    values = [_shown(getattr(PROTOCOLS[d], field)) for d in DATASETS]
    if len(set(values)) == 1:
        return f"  [default: {values[0]}]"
    if named:
        return f"  [default: {', '.join(f'{v} {d}' for v, d in zip(values, DATASETS))}]"
    return f"  [default: {' / '.join(values)}]"


def _summary_text(info: dict, name: str) -> str:
    reductions = ", ".join(map(str, info["reduction_layers"]))
    return "\n".join(
        [
            f"DARTS {info['dataset']} network of {name} ({info['image_size']}x{info['image_size']} input, "
            f"{info['num_classes']} classes)",
            f"  params: {info['params'] / 1e6:.3f} M ({info['params']:,}; "
            f"{info['params_with_auxiliary']:,} with the auxiliary head)",
            f"  multiply-adds: {info['macs'] / 1e6:.1f} M (one image, auxiliary head excluded)",
            f"  layers: {info['layers']} cells (reductions at {reductions}), initial channels {info['channels']}",
            f"  genotype: {info['genotype']}",
        ]
    )


@click.command("train")
@click.option(
    "--space", default="darts", show_default=True, help="Search space (only darts is trained)."
)
@click.option(
    "--genotype",
    help="Shipped name (TENAS_cifar10, TENAS_imagenet, DARTS_V2), a file holding "
    "Genotype(...) text or JSON, or the Genotype(...) text itself." + _default("genotype"),
)
@click.option(
    "--dataset",
    help=f"{' or '.join(DATASETS)}.  [default: {TrainConfig.dataset}; from the checkpoint with --resume]",
)
@click.option(
    "--summary",
    is_flag=True,
    help="Print params, multiply-adds, layers and channels; do not train.",
)
@click.option("--json", "as_json", is_flag=True, help="With --summary: one JSON object.")
@click.option("--epochs", type=int, help="Training epochs." + _default("epochs", named=True))
@click.option(
    "--batch-size",
    type=int,
    help="Global batch size, split over DDP processes." + _default("batch_size"),
)
@click.option("--lr", type=float, help="Initial SGD learning rate." + _default("lr"))
@click.option("--momentum", type=float, help="SGD momentum." + _default("momentum"))
@click.option("--weight-decay", type=float, help="Weight decay." + _default("weight_decay"))
@click.option("--lr-schedule", help="cosine or linear." + _default("lr_schedule"))
@click.option(
    "--warmup-epochs", type=int, help="Linear warm-up epochs." + _default("warmup_epochs")
)
@click.option(
    "--label-smoothing", type=float, help="Label smoothing." + _default("label_smoothing")
)
@click.option("--grad-clip", type=float, help="Max gradient norm, 0 = off." + _default("grad_clip"))
@click.option(
    "--auxiliary/--no-auxiliary", default=None, help="Auxiliary head." + _default("auxiliary")
)
@click.option(
    "--auxiliary-weight",
    type=float,
    help="Weight of the auxiliary loss." + _default("auxiliary_weight"),
)
@click.option(
    "--drop-path-prob",
    type=float,
    help="Final drop-path probability (ramped linearly)." + _default("drop_path_prob"),
)
@click.option(
    "--cutout", type=int, help="Cutout length in pixels, 0 = off (CIFAR)." + _default("cutout")
)
@click.option("--init-channels", type=int, help="Initial channels C." + _default("init_channels"))
@click.option("--layers", type=int, help="Number of cells." + _default("layers"))
@click.option("--image-size", type=int, help="Training crop in pixels." + _default("image_size"))
@click.option(
    "--pool-bn/--no-pool-bn",
    default=None,
    help="Non-affine BN after pooling ops (DARTS_evaluation variant)." + _default("pool_bn"),
)
@click.option("--workers", type=int, help="DataLoader workers per process." + _default("workers"))
@click.option("--seed", type=int, help="Random seed." + _default("seed"))
@click.option("--amp/--no-amp", default=None, help="Mixed precision (CUDA only)." + _default("amp"))
@click.option("--steps-per-epoch", type=int, help="Cap training steps per epoch (smoke runs).")
@click.option("--eval-every", type=int, help="Evaluate every N epochs." + _default("eval_every"))
@click.option(
    "--eval-limit", type=int, help="Evaluate on the first N validation images only (smoke runs)."
)
@click.option(
    "--num-classes",
    type=int,
    help="Classifier outputs.  [default: 10; imagenet: number of class folders]",
)
@click.option(
    "--out", "out_dir", help="Run folder.  [default: runs/train/darts/<dataset>/<genotype>]"
)
@click.option("--resume", type=click.Path(dir_okay=False), help="Continue from this checkpoint.pt.")
@click.option(
    "--data-dir",
    help="Data folder (> $HARNESS_DATA_DIR > the user cache > the embedded sample); ImageNet: holds train/ and val/.",
)
@click.option(
    "--data-source",
    help="CIFAR-10 form: batches, npz, jpeg10k, jpegbytes.  [default: batches if present, else npz]",
)
@click.option(
    "--device", help="auto, cpu, cuda or cuda:N (torchrun: cuda:LOCAL_RANK)." + _default("device")
)
def command(space, genotype, dataset, summary, as_json, resume, **options) -> None:
    """Train (or with --summary, size up) the DARTS network of a genotype on CIFAR-10 or ImageNet.

    Defaults are the DARTS evaluation protocols (docs/tenas-spec.md §13). Multi-GPU / multi-node runs:
    `torchrun --nproc_per_node N [--nnodes ...] -m cli train --dataset imagenet ...` (same options).
    """
    if space not in SPACES:
        raise InputError(
            f"--space {space!r} cannot be trained: NB201 accuracies come from the benchmark; "
            f"supported: {', '.join(SPACES)}."
        )
    if dataset is not None and dataset not in DATASETS:
        raise unknown_name("dataset", dataset, DATASETS)
    for name in (
        "init_channels",
        "layers",
        "image_size",
    ):  # --summary builds the network with them too
        value = options[name]
        if value is not None and value < 1:
            raise InputError(f"--{name.replace('_', '-')} must be a positive integer; got {value}.")
    if summary:
        from harness.spaces.darts import load_genotype, summarize

        ds = dataset or "cifar10"
        name = genotype or PROTOCOLS[ds].genotype
        load_genotype(name)
        info = summarize(
            name,
            ds,
            image_size=options["image_size"],
            C=options["init_channels"],
            layers=options["layers"],
            auxiliary=options["auxiliary"],
            pool_bn=options["pool_bn"],
        )
        click.echo(json.dumps(info) if as_json else _summary_text(info, name))
        return
    if as_json:
        raise click.UsageError(
            "--json goes with --summary (training writes result.json in the run folder)."
        )

    from harness.atomic import check_writable_dir
    from training.train import run_training

    if options.get("out_dir"):
        check_writable_dir(options["out_dir"], "the training run")  # before any work

    if resume is None:
        ds = dataset or "cifar10"
        result = run_training(ds, genotype=genotype or PROTOCOLS[ds].genotype, **options)
    else:
        result = run_training(dataset, resume=resume, genotype=genotype, **options)
    click.echo(json.dumps(result))
