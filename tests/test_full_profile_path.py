"""The full profile (a user's GPU) is the class code path with larger sizes: run that path here at 64 x 64 pixels,
the full profile's image size, with the smoke profile's tiny sizes and no shipped checkpoint to lean on."""
import numpy as np

from course_lib import config
from course_lib import train_checkpoints as recipes
from course_lib.attacks import inversion, metrics
from course_lib.data import datamons

DATAMONS_NETWORKS = ["target_small", "target_resnet", "evaluation", "traits", "gan", "inpainting"]


def test_full_profile_trains_and_attacks_at_64_pixels_with_the_same_code():
    tiny = {k: v for k, v in config.TABLE["revealer"]["smoke"].items() if k != "image_size"}
    # 16 channels, not smoke's 8: TF 2.15's oneDNN corrupts memory training target_resnet on 64 x 64 inputs with
    # 4 or 8 channels (measured: "double free or corruption"; 12, 16, 24 and the full profile's 64 train fine).
    tiny.update({k: 16 for k in ("gan_width", "inpaint_width", "target_width", "resnet_width", "eval_width",
                                 "trait_width")})
    cfg = config.load("full", 0, {"revealer": tiny})
    r = cfg.revealer
    assert cfg.profile == "full" and r.image_size == config.TABLE["revealer"]["full"]["image_size"] == 64
    dm = recipes.datamons_splits(cfg)
    assert dm.private_train.images.shape[1:] == (64, 64, 3)
    models = recipes.revealer_models(cfg, only=DATAMONS_NETWORKS, progress=False)
    assert {k: info["source"] for k, (_, info) in models.items()} == dict.fromkeys(DATAMONS_NETWORKS, "trained")

    G, D = models["gan"][0]
    labels = np.arange(len(dm.private_train.names))
    gmi = inversion.gmi_attack(G, D, models["target_resnet"][0], labels, restarts=2, iterations=2, seed=0,
                               progress=False)
    assert gmi.images.shape == (len(labels), 2, 64, 64, 3)
    traits = np.array([i.code() for i in datamons.named_identities()])
    summary = metrics.summarise(gmi, models["evaluation"][0], dm.private_train.images, dm.private_train.labels,
                                seeds=2, trait_model=models["traits"][0], identity_traits=traits,
                                trait_names=list(datamons.TRAITS))
    assert 0 <= summary["top1"] <= 1 and 0 <= summary["trait_recovery"] <= 1 and np.isfinite(summary["psnr"])

    G_aux, D_aux = models["inpainting"][0]
    photos = dm.private_test.images[[np.flatnonzero(dm.private_test.labels == k)[0] for k in labels]]
    fill = dm.public.images.mean(axis=(0, 1, 2))
    kinds = ("blur", "square", "t_mask")
    aux = inversion.stack_aux([inversion.aux_knowledge(photos, kind, fill) for kind in kinds])
    result = inversion.gmi_attack(G_aux, D_aux, models["target_small"][0], np.tile(labels, len(kinds)), restarts=2,
                                  iterations=2, seed=0, aux=aux, progress=False)
    assert result.images.shape == (len(kinds) * len(labels), 2, 64, 64, 3)
    rows = slice(len(labels), 2 * len(labels))  # the square-mask part of the batch
    known = aux.hole[rows, :, :, 0] == 0  # pixels the attacker's photo shows: kept as they are
    np.testing.assert_allclose(result.images[rows, 0][known], photos[known], atol=1e-5)


def test_a_resnet_too_narrow_for_64_pixels_is_refused_before_it_can_crash_tensorflow():
    import pytest

    from course_lib.models import targets

    with pytest.raises(config.ConfigError, match="width of 12 or more"):
        targets.target_resnet((64, 64, 3), 15, width=8)
    assert targets.target_resnet((32, 32, 3), 15, width=8).output_shape == (None, 15)  # smoke's size is safe
    assert targets.target_resnet((64, 64, 3), 15, width=12).output_shape == (None, 15)
