"""LiftedGAN, recognised before it loads: its config.py is read as data (nothing in it runs), its
checkpoint is named as not loadable yet, and its StyleGAN2 file as the companion it is."""

from __future__ import annotations

import argparse
import textwrap

import pytest
import torch

from aware3d.app.cli import main
from aware3d.errors import InputError
from aware3d.models import inspect_checkpoint
from aware3d.models.liftedgan import read_config

CONFIG = textwrap.dedent('''
    \'\'\' Config Proto \'\'\'
    import os

    # The path to the pretrained StyleGAN2 checkpoint
    generator_path = './pretrained/stylegan2-ffhq-cropped-300000.pt'
    face_embedding_path = None
    image_size = 256
    truncation = 0.7
    min_depth = 0.9
    max_depth = 1.1
    border_depth = 1.05
    z_translation_range = 0.01  # (-t,t) in 3D
    vgg_indices = [1,2,3]
    use_flip = True
    renderer_params = {
        'device': 'cuda',
        'fov': 10, # in degrees
        'min_depth': min_depth,
        'min_phi': -90,
        'border_depth': border_depth,
    }
    blur_params = {'size': 10, 'sigma': 4}
    os.system('touch canary-call')
    hostile = __import__('os').system('touch canary-assign')
    derived = max_depth * 2
    shadowed = 1
    shadowed = open('canary-open', 'w')
''')


def _release(folder):
    """A LiftedGAN checkpoint as save_model writes it, its config, and the StyleGAN2 training file."""
    torch.save({"netD": {"w": torch.zeros(3)}, "netT": {"w": torch.zeros(3)}, "netSD": {"w": torch.zeros(3)},
                "netSC": {"w": torch.zeros(3)}, "optimizer": {"state": {}, "param_groups": []}, "global_step": 50000, "epoch": 10},
               folder / "checkpoint_010.pth")
    (folder / "config.py").write_text(CONFIG)
    torch.save({"g": {}, "d": {}, "g_ema": {"style.1.weight": torch.zeros(2)}, "g_optim": {}, "d_optim": {},
                "args": argparse.Namespace(size=256, iter=300000), "ada_aug_p": 0.0}, folder / "stylegan2-ffhq-cropped-300000.pt")


def test_config_is_read_as_data_and_nothing_in_it_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _release(tmp_path)
    config = read_config(tmp_path / "config.py")
    assert config["generator_path"] == "./pretrained/stylegan2-ffhq-cropped-300000.pt" and config["face_embedding_path"] is None
    assert (config["truncation"], config["border_depth"], config["vgg_indices"], config["use_flip"]) == (0.7, 1.05, [1, 2, 3], True)
    assert config["renderer_params"] == {"device": "cuda", "fov": 10, "min_depth": 0.9, "min_phi": -90, "border_depth": 1.05}
    assert config["blur_params"] == {"size": 10, "sigma": 4}
    for skipped in ("hostile", "derived", "shadowed", "os"):  # calls, arithmetic, imports: skipped, not run
        assert skipped not in config
    assert not list(tmp_path.glob("canary*"))
    with pytest.raises(InputError, match="needs the config.py beside its checkpoint"):
        read_config(tmp_path / "missing" / "config.py")
    (tmp_path / "broken.py").write_text("x = (")
    with pytest.raises(InputError, match="is not a LiftedGAN config.py"):
        read_config(tmp_path / "broken.py")


def test_files_are_recognised_and_reported_as_not_loadable_yet(tmp_path, capsys):
    _release(tmp_path)
    info = inspect_checkpoint(tmp_path / "checkpoint_010.pth")
    assert (info.family, info.loadable) == ("liftedgan", False) and "cannot load it yet" in info.refusal
    assert main(["generate", "--checkpoint", str(tmp_path / "checkpoint_010.pth"), "-o", str(tmp_path / "x.glb")]) == 2
    assert "the liftedgan family is recognised but this version of aware3d cannot load it yet" in capsys.readouterr().err
    # LiftedGAN #2: users point at the StyleGAN2 file instead of the checkpoint
    assert main(["info", str(tmp_path / "stylegan2-ffhq-cropped-300000.pt")]) == 2
    err = capsys.readouterr().err
    assert "holds only the rosinality StyleGAN2 training state" in err and "checkpoint_010.pth beside its config.py" in err
    assert not (tmp_path / "x.glb").exists()
