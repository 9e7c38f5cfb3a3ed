"""DARTS training: protocol defaults, schedule, data transforms, a few real steps, checkpoint/resume, CLI."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from cli import cli
from harness.errors import InputError
from harness.imagefolder import scan_image_folder
from training import imagenet_data as data
from training.checkpoint import load_checkpoint
from training.config import PROTOCOLS, lr_factor, make_config
from training.distributed import DistInfo
from training.train import Trainer, accuracy_counts

SHARED_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "images"
needs_cifar = pytest.mark.skipif(
    not (SHARED_IMAGES / "cifar10_train_4000.npz").is_file(),
    reason="shared CIFAR-10 images not present",
)


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _tiny(dataset: str, out: Path, **kw):
    base = dict(
        init_channels=4,
        layers=3,
        batch_size=8,
        epochs=2,
        steps_per_epoch=2,
        workers=0,
        device="cpu",
        out_dir=str(out),
        eval_limit=16,
    )
    base.update(kw)
    return make_config(dataset, **base)


@pytest.fixture(scope="module")
def cifar_sets():
    from harness.data import load_images

    train = load_images("cifar10", "train", SHARED_IMAGES.parent, source="npz", limit=64)
    test = load_images("cifar10", "test", SHARED_IMAGES.parent, source="npz", limit=16)
    return data.CifarDataset(train, True, 16), data.CifarDataset(test, False)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """A 3-class ImageFolder tree (train/, val/) of small JPEG and PNG photos-like images."""
    root = tmp_path_factory.mktemp("imagenet")
    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("val", 2)):
        for c, name in enumerate(("n01", "n02", "n03")):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                h, w = int(rng.integers(40, 90)), int(rng.integers(40, 90))
                base = np.zeros((h, w, 3), np.uint8)
                base[..., c] = 200  # class-coloured, with noise
                pixels = np.clip(base + rng.integers(0, 50, (h, w, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"img{i}.{'JPEG' if i % 2 else 'png'}")
    return root


# ---- configuration and schedule ------------------------------------------------------------------


def test_protocols_are_darts_evaluation_defaults():
    c, i = PROTOCOLS["cifar10"], PROTOCOLS["imagenet"]
    assert (c.epochs, c.batch_size, c.lr, c.momentum, c.weight_decay, c.lr_schedule) == (
        600,
        96,
        0.025,
        0.9,
        3e-4,
        "cosine",
    )
    assert (c.cutout, c.auxiliary, c.auxiliary_weight, c.drop_path_prob, c.grad_clip) == (
        16,
        True,
        0.4,
        0.3,
        5.0,
    )
    assert (c.init_channels, c.layers, c.warmup_epochs, c.label_smoothing) == (36, 20, 0, 0.0)
    assert (i.epochs, i.batch_size, i.lr, i.momentum, i.weight_decay, i.lr_schedule) == (
        250,
        768,
        0.5,
        0.9,
        3e-5,
        "cosine",
    )
    assert (i.label_smoothing, i.warmup_epochs, i.grad_clip, i.drop_path_prob, i.auxiliary) == (
        0.1,
        5,
        5.0,
        0.0,
        False,
    )
    assert (i.init_channels, i.layers, i.image_size) == (48, 14, 224)


def test_make_config_overrides_and_errors():
    cfg = make_config("imagenet", epochs=3, lr=None, batch_size=None)
    assert cfg.epochs == 3 and cfg.lr == 0.5 and cfg.batch_size == 768  # None = not set
    with pytest.raises(InputError, match="unknown training setting"):
        make_config("cifar10", learning_rate=0.1)
    with pytest.raises(InputError, match="unknown dataset 'mnist'"):
        make_config("mnist")
    with pytest.raises(InputError, match="--epochs must be a positive integer; got 0"):
        make_config("cifar10", epochs=0)
    with pytest.raises(InputError, match=r"--drop-path-prob must be in \[0, 1\); got 1.5"):
        make_config("cifar10", drop_path_prob=1.5)
    with pytest.raises(InputError, match="unknown lr schedule 'step'"):
        make_config("cifar10", lr_schedule="step")
    with pytest.raises(InputError, match="unknown DARTS genotype"):
        make_config("cifar10", genotype="NOPE")
    with pytest.raises(InputError, match="linear lr schedule needs more than 5 epochs"):
        make_config("cifar10", lr_schedule="linear", epochs=5)


def test_lr_schedule_known_values():
    imagenet = PROTOCOLS["imagenet"]
    assert [lr_factor(imagenet, e) for e in range(5)] == [0.2, 0.4, 0.6, 0.8, 1.0]  # warm-up
    assert lr_factor(imagenet, 125) == pytest.approx(0.5)
    assert lr_factor(imagenet, 249) == pytest.approx(0.5 * (1 + math.cos(math.pi * 249 / 250)))
    cifar = PROTOCOLS["cifar10"]
    assert lr_factor(cifar, 0) == 1.0 and lr_factor(cifar, 300) == pytest.approx(0.5)
    linear = dataclasses.replace(imagenet, lr_schedule="linear", warmup_epochs=0)
    assert lr_factor(linear, 0) == 1.0 and lr_factor(linear, 245) == pytest.approx(5 / 245 / 5)
    assert lr_factor(linear, 100) == pytest.approx(145 / 245)


def test_accuracy_counts():
    logits = torch.tensor([[0.1, 0.9, 0.0, 0.0, 0.0, 0.0], [0.9, 0.1, 0.8, 0.7, 0.6, 0.5]])
    assert accuracy_counts(logits, torch.tensor([1, 5])) == [1, 2]
    assert accuracy_counts(logits, torch.tensor([0, 1])) == [0, 1]  # 1 ranks 6th in row 2
    assert accuracy_counts(logits[:, :3], torch.tensor([1, 2])) == [
        1,
        2,
    ]  # top-5 capped at 3 classes


# ---- transforms ----------------------------------------------------------------------------------


@needs_cifar
def test_cifar_dataset_transforms(cifar_sets):
    train, test = cifar_sets
    x, y = test[0]
    pixels = test.images.take(np.asarray([0]))[0]
    mean, std = (
        torch.tensor(data.DARTS_CIFAR_MEAN).view(3, 1, 1),
        torch.tensor(data.DARTS_CIFAR_STD).view(3, 1, 1),
    )
    assert torch.allclose(
        x * std + mean, torch.from_numpy(pixels).permute(2, 0, 1).float() / 255, atol=1e-6
    )
    assert y == int(test.images.labels[0])
    torch.manual_seed(0)
    xt, _ = train[0]
    assert xt.shape == (3, 32, 32)
    zero = (xt * std + mean).abs().sum(0) < 1e-6  # black padding or the cutout square
    assert zero.sum() >= 1


def test_imagenet_transforms(image_folder):
    index = scan_image_folder(image_folder / "train")
    assert index.classes == ("n01", "n02", "n03") and len(index) == 12
    train = data.ImageFolderDataset(index, True, image_size=32)
    val = data.ImageFolderDataset(scan_image_folder(image_folder / "val"), False, image_size=32)
    torch.manual_seed(0)
    x, y = train[5]
    assert x.shape == (3, 32, 32) and y == 1 and val[0][0].shape == (3, 32, 32)
    img = Image.new("RGB", (100, 60))
    assert data.resize_shorter(img, 37).size == (61, 37)
    assert data.center_crop(Image.new("RGB", (61, 37)), 32).size == (32, 32)
    photo = Image.open(index.paths[0]).convert("RGB")
    same = data.color_jitter(photo, 0, 0, 0, 0)
    assert np.array_equal(np.asarray(same), np.asarray(photo))
    assert data.random_resized_crop(photo, 24).size == (24, 24)
    # Hue shifts turn pure red a third of the way round the colour wheel, either way (wrapping).
    red = Image.new("RGB", (4, 4), (255, 0, 0))
    green = np.asarray(data._adjust_hue(red, 1 / 3))[0, 0]
    blue = np.asarray(data._adjust_hue(red, -1 / 3))[0, 0]
    assert green[1] == 255 and green[0] < 16 and green[2] == 0
    assert blue[2] == 255 and blue[1] < 16 and blue[0] < 16


# ---- training, checkpoint, resume ---------------------------------------------------------------


@needs_cifar
def test_cifar_loss_decreases_on_a_fixed_batch(cifar_sets, tmp_path):
    train, test = cifar_sets
    trainer = Trainer(_tiny("cifar10", tmp_path, lr=0.05), train, test)
    x, y = next(iter(trainer.train_loader()))
    losses = [trainer.train_step(x, y)["loss"] for _ in range(8)]
    assert losses[-1] < 0.8 * losses[0], losses


@needs_cifar
def test_cifar_checkpoint_resume_continues_the_same_run(cifar_sets, tmp_path):
    train, test = cifar_sets
    full = Trainer(_tiny("cifar10", tmp_path / "full"), train, test)
    summary = full.fit()
    assert summary["epochs"] == 2 and 0 <= summary["val_top1"] <= 100
    lines = (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert json.loads(lines[1])["val_images"] == 16
    assert json.loads((tmp_path / "full" / "config.json").read_text())["epochs"] == 2

    half = Trainer(_tiny("cifar10", tmp_path / "half"), train, test)
    half.fit(until=1)
    state = load_checkpoint(tmp_path / "half" / "checkpoint.pt")
    assert state["epoch"] == 1 and set(state) >= {
        "model",
        "optimizer",
        "scheduler",
        "scaler",
        "rng",
        "config",
    }
    resumed = Trainer.resume(tmp_path / "half" / "checkpoint.pt", train, test)
    assert resumed.epoch == 1
    resumed.fit()
    for (k, a), (_, b) in zip(full.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), k
    untimed = lambda h: [{k: v for k, v in r.items() if k != "train_seconds"} for r in h]  # noqa: E731
    assert untimed(resumed.history) == untimed(full.history)
    assert resumed.evaluate() == full.evaluate()


@needs_cifar
def test_resume_refuses_to_change_the_run(cifar_sets, tmp_path):
    train, test = cifar_sets
    Trainer(_tiny("cifar10", tmp_path, epochs=1), train, test).fit()
    with pytest.raises(InputError, match="cannot change genotype, lr when resuming"):
        Trainer.resume(tmp_path / "checkpoint.pt", train, test, genotype="DARTS_V2", lr=0.1)
    with pytest.raises(InputError, match="already holds a run"):
        Trainer(_tiny("cifar10", tmp_path, epochs=1), train, test).fit()
    longer = Trainer.resume(
        tmp_path / "checkpoint.pt", train, test, epochs=4
    )  # extending is allowed
    assert longer.optimizer.param_groups[0]["lr"] == pytest.approx(
        0.025 * lr_factor(longer.config, 1)
    )
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(InputError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "none.pt")


def test_imagenet_train_checkpoint_resume_evaluate(image_folder, tmp_path):
    cfg = _tiny(
        "imagenet",
        tmp_path,
        data_dir=str(image_folder),
        image_size=64,
        init_channels=8,
        batch_size=4,
        steps_per_epoch=None,
        epochs=2,
        eval_limit=None,
    )
    trainer = Trainer(cfg)
    assert trainer.num_classes == 3 and trainer.model.classifier.out_features == 3
    assert (
        len(trainer.train_loader()) == 3 and len(trainer.val_data) == 6
    )  # drop_last, as DARTS on ImageNet
    x, y = next(iter(trainer.train_loader()))
    assert x.shape == (4, 3, 64, 64)
    losses = [trainer.train_step(x, y)["loss"] for _ in range(6)]
    assert losses[-1] < losses[0], losses

    fresh = Trainer(cfg)
    fresh.fit(until=1)
    resumed = Trainer.resume(tmp_path / "checkpoint.pt")
    assert resumed.epoch == 1 and resumed.config.data_dir == str(image_folder)
    summary = resumed.fit()
    assert summary["epochs"] == 2 and resumed.history[-1]["val_images"] == 6
    assert resumed.evaluate()["val_images"] == 6
    assert json.loads((tmp_path / "result.json").read_text())["epochs"] == 2


# ---- CLI -----------------------------------------------------------------------------------------


def test_cli_summary_json_and_errors():
    runner = CliRunner()
    res = runner.invoke(
        cli,
        [
            "train",
            "--space",
            "darts",
            "--genotype",
            "DARTS_V2",
            "--dataset",
            "imagenet",
            "--summary",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert {"params", "macs", "layers", "channels"} <= set(info)
    assert round(info["params"] / 1e6, 1) == 4.7 and info["layers"] == 14 and info["channels"] == 48
    text = runner.invoke(
        cli, ["train", "--genotype", "TENAS_imagenet", "--dataset", "imagenet", "--summary"]
    )
    assert (
        text.exit_code == 0 and "params: 5.420 M" in text.output and "multiply-adds" in text.output
    )
    for args, message in [
        (
            ["--genotype", "TENAS_cifar", "--summary"],
            "unknown DARTS genotype 'TENAS_cifar'. Did you mean",
        ),
        (["--dataset", "mnist", "--summary"], "unknown dataset 'mnist'"),
        (["--space", "nb201", "--summary"], "--space 'nb201' cannot be trained"),
        (
            ["--genotype", "Genotype(normal=[('conv_9x9', 0)], reduce=[])", "--summary"],
            "invalid DARTS genotype",
        ),
        (["--epochs", "0", "--device", "cpu"], "--epochs must be a positive integer"),
        (["--resume", "missing.pt"], "checkpoint not found"),
    ]:
        res = runner.invoke(cli, ["train", *args])
        assert res.exit_code == 2, (args, res.output)
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], res.output


@needs_cifar
def test_cli_trains_and_resumes(tmp_path):
    runner = CliRunner()
    common = [
        "--out",
        str(tmp_path),
        "--device",
        "cpu",
        "--workers",
        "0",
        "--steps-per-epoch",
        "1",
        "--eval-limit",
        "8",
        "--data-dir",
        str(SHARED_IMAGES.parent),
        "--data-source",
        "npz",
    ]
    res = runner.invoke(
        cli,
        [
            "train",
            "--genotype",
            "DARTS_V2",
            "--dataset",
            "cifar10",
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--init-channels",
            "4",
            "--layers",
            "3",
            *common,
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.strip().splitlines()[-1])["epochs"] == 1
    res = runner.invoke(
        cli, ["train", "--resume", str(tmp_path / "checkpoint.pt"), "--epochs", "2", *common]
    )
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "result.json").read_text())["epochs"] == 2
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2


@pytest.mark.gpu
def test_mixed_precision_steps_on_gpu(tmp_path):
    from harness.data import load_images

    train = data.CifarDataset(load_images("cifar10", "train", limit=64), True)
    test = data.CifarDataset(load_images("cifar10", "test", limit=16), False)
    trainer = Trainer(
        _tiny("cifar10", tmp_path, device="cuda", lr=0.05, init_channels=8), train, test
    )
    assert trainer.use_amp and trainer.scaler.is_enabled()
    x, y = next(iter(trainer.train_loader()))
    losses = [trainer.train_step(x, y)["loss"] for _ in range(10)]
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    trainer.fit()
    assert Trainer.resume(tmp_path / "checkpoint.pt", train, test).epoch == 2


# ---- DDP -----------------------------------------------------------------------------------------


def _ddp_worker(rank: int, world: int, port: int, out: str, results) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    from harness.data import load_images

    train = data.CifarDataset(
        load_images("cifar10", "train", SHARED_IMAGES.parent, source="npz", limit=32), True
    )
    test = data.CifarDataset(
        load_images("cifar10", "test", SHARED_IMAGES.parent, source="npz", limit=10), False
    )
    cfg = make_config(
        "cifar10",
        init_channels=4,
        layers=3,
        batch_size=8,
        epochs=1,
        workers=0,
        device="cpu",
        out_dir=out,
    )
    trainer = Trainer(cfg, train, test, info=DistInfo.from_env())
    summary = trainer.fit()
    flat = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
    results[rank] = (
        flat.tolist(),
        summary["val_top1"],
        trainer.history[0]["val_images"],
        trainer.history[0]["train_images"],
    )
    torch.distributed.destroy_process_group()


@pytest.mark.slow
@needs_cifar
def test_ddp_two_processes_on_cpu(tmp_path):
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    manager = mp.Manager()
    results = manager.dict()
    mp.spawn(_ddp_worker, args=(2, port, str(tmp_path), results), nprocs=2)
    (p0, top0, n0, t0), (p1, top1, n1, t1) = results[0], results[1]
    assert p0 == p1  # gradients were averaged: replicas stay identical
    assert top0 == top1 and n0 == n1 == 10  # validation counts summed over ranks
    assert t0 == t1 == 32  # 2 ranks x 16 images
    assert (tmp_path / "checkpoint.pt").is_file()


def test_cli_help_shows_the_protocol_defaults():
    """The help texts read their defaults from PROTOCOLS: both datasets' values where they differ."""
    text = " ".join(CliRunner().invoke(cli, ["train", "--help"], terminal_width=200).output.split())
    for shown in (
        "Training epochs. [default: 600 cifar10, 250 imagenet]",
        "Weight decay. [default: 3e-4 / 3e-5]",
        "Initial SGD learning rate. [default: 0.025 / 0.5]",
        "(CIFAR). [default: 16 / 0]",
        "Auxiliary head. [default: on / off]",
        "Max gradient norm, 0 = off. [default: 5]",
        "[default: TENAS_cifar10 / TENAS_imagenet]",
    ):
        assert shown in text, shown
