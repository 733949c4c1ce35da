"""The full profile (a user's GPU) is the class code path with larger sizes: run that path here at 64 x 64 pixels,
the full profile's image size, with the smoke profile's tiny sizes and no shipped checkpoint to lean on."""
import numpy as np

from course_lib import config
from course_lib import train_checkpoints as recipes
from course_lib.attacks import inversion, metrics
from course_lib.data import datamons

DATAMONS_NETWORKS = ["target_small", "target_resnet", "evaluation", "traits", "gan", "trait_gan", "inpainting"]


def test_full_profile_trains_and_attacks_at_64_pixels_with_the_same_code():
    tiny = {k: v for k, v in config.TABLE["revealer"]["smoke"].items() if k != "image_size"}
    cfg = config.load("full", 0, {"revealer": tiny})
    r = cfg.revealer
    assert cfg.profile == "full" and r.image_size == config.TABLE["revealer"]["full"]["image_size"] == 64
    dm = recipes.datamons_splits(cfg)
    assert dm.private_train.images.shape[1:] == (64, 64, 3)
    models = recipes.revealer_models(cfg, only=DATAMONS_NETWORKS, progress=False)
    assert {k: info["source"] for k, (_, info) in models.items()} == dict.fromkeys(DATAMONS_NETWORKS, "trained")

    G, D = models["trait_gan"][0]  # notebook 03 searches the trait-conditioned prior
    labels = np.arange(len(dm.private_train.names))
    # notebook 03's attack with the profile's settings: views, chosen starts, the margin, against the disguise-trained
    assert models["target_resnet"][1]["spec"]["disguises"]["per_identity"] == r.resnet_disguises > 0
    gmi = inversion.course_gmi(G, D, models["target_resnet"][0], labels, r, seed=0, progress=False)
    assert gmi.images.shape == (len(labels), r.attack_seeds * r.attack_restarts, 64, 64, 3)
    assert gmi.method == "gmi_views_selected_margin_traits" and gmi.conditions.shape[:2] == gmi.images.shape[:2]
    traits = np.array([i.code() for i in datamons.named_identities()])
    summary = metrics.summarise(gmi, models["evaluation"][0], dm.private_train.images, dm.private_train.labels,
                                seeds=r.attack_seeds, trait_model=models["traits"][0], identity_traits=traits,
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


def test_narrow_resnets_train_at_the_batch_sizes_that_used_to_crash_tensorflow(fresh_python):
    """A strided 1x1 convolution with fewer than 16 input channels corrupted the heap in oneDNN's weight gradient
    (smoke's width 8 at batch 13, width 12 at batch 5, 64x64 at width 4 or 8: the process died). The shortcut now
    subsamples, then convolves with stride 1. In a fresh interpreter, as a crash would take pytest down with it."""
    code = (
        "import numpy as np, tensorflow as tf\n"
        "from course_lib.models import targets\n"
        "for width, batch, size in ((8, 13, 32), (8, 9, 32), (12, 5, 32), (4, 13, 64), (8, 5, 64)):\n"
        "    m = targets.target_resnet((size, size, 3), 15, width)\n"
        "    m.compile('adam', tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))\n"
        "    x = np.random.default_rng(0).random((batch, size, size, 3), dtype=np.float32)\n"
        "    for _ in range(2):\n"
        "        m.train_on_batch(x, np.arange(batch) % 15)\n"
        "print('trained')\n"
    )
    assert "trained" in fresh_python(code).stdout


def test_the_resnet_shortcut_is_a_strided_1x1_convolution():
    """Subsampling, then a 1x1 convolution, computes what the strided 1x1 convolution computed (same weights)."""
    import numpy as np
    import tensorflow as tf

    from course_lib.models import targets

    model = targets.target_resnet((32, 32, 3), 15, width=8)
    pools = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.AveragePooling2D)]
    assert len(pools) == 2  # the two stride-2 stages
    pool = pools[0]
    conv = next(layer for layer in model.layers if layer.input is pool.output)
    x = tf.random.stateless_normal((2, *pool.input.shape[1:]), seed=(1, 2))
    strided = tf.nn.conv2d(x, conv.kernel, strides=2, padding="VALID")
    np.testing.assert_allclose(conv(pool(x)).numpy(), strided.numpy(), rtol=1e-5, atol=1e-5)
