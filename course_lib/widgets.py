"""ipywidgets front-ends over course_lib functions, one per notebook.

A widget is never the only way to a result: each one calls a function a notebook cell (or a test) can call directly,
and notebooks build them only when ``INTERACTIVE`` is true (unattended runs set it to False: nobody moves a slider
there, and live widgets can stall papermill, jupyter/nbclient#312).
"""
from __future__ import annotations

import html
import math
from typing import Any, Mapping, Sequence

import numpy as np


# --- notebook 01: evasion ----------------------------------------------------------------------------------------

def evasion_explorer(model: Any, x: np.ndarray, y: np.ndarray, *, pgd_steps: int, seed: int = 0,
                     eps: float = 0.1) -> Any:
    """Slide epsilon, pick FGSM or PGD: the adversarial digits and what ``model`` now reads (``attacks.evasion``)."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from course_lib import viz
    from course_lib.attacks import evasion

    def show(eps: float = eps, attack: str = "pgd") -> None:
        adv = evasion.fgsm(model, x, y, eps) if attack == "fgsm" else evasion.pgd(model, x, y, eps, steps=pgd_steps,
                                                                                   seed=seed)
        read = np.argmax(model.predict(adv, verbose=0), axis=1)
        viz.image_grid(adv, titles=[f"{t} → {p}" for t, p in zip(y, read)], ncols=len(x))
        plt.show()

    return widgets.interactive(show, eps=widgets.FloatSlider(value=eps, min=0.0, max=0.3, step=0.025),
                               attack=["fgsm", "pgd"])


# --- notebook 02: epsilon ------------------------------------------------------------------------------------------

def epsilon_calculator(
    noise_multiplier: float = 1.1, batch_size: int = 256, epochs: float = 15, dataset_size: int = 60000,
    delta: float = 1e-5,
) -> Any:
    """Move a slider, read both epsilons: a calculator over ``dp.accounting.epsilons`` (PLD and RDP)."""
    import ipywidgets as widgets

    from course_lib.dp import accounting

    style = {"description_width": "120px"}
    noise = widgets.FloatSlider(value=noise_multiplier, min=0.3, max=5.0, step=0.05, description="noise multiplier",
                                style=style)
    batch = widgets.IntSlider(value=batch_size, min=16, max=4096, step=16, description="batch size", style=style)
    n_epochs = widgets.FloatSlider(value=epochs, min=0.5, max=100, step=0.5, description="epochs", style=style)
    size = widgets.IntText(value=dataset_size, description="dataset size", style=style)
    log_delta = widgets.FloatSlider(value=math.log10(delta), min=-10, max=-3, step=0.5,
                                    description="log10 delta", style=style)
    out = widgets.HTML()

    def update(_=None) -> None:
        d = 10 ** log_delta.value
        try:
            eps = accounting.epsilons(noise.value, batch.value, size.value, n_epochs.value, d)
        except ValueError as error:  # ConfigError is a ValueError: show the sentence instead of a traceback
            out.value = f"<b style='color:#b00'>{error}</b>"
            return
        warning = accounting.delta_warning(d, size.value)  # the same sentence as accounting.statement
        shown = (f"<b>epsilon = {eps['pld']:.2f}</b> (PLD) / {eps['rdp']:.2f} (RDP) at delta = {d:.0e}; "
                 f"{accounting.steps_for(n_epochs.value, batch.value, size.value)} steps, "
                 f"sampling rate {batch.value / size.value:.4f}")
        out.value = shown + (f"<br><b style='color:#b00'>{html.escape(warning)}</b>" if warning else "")

    for w in (noise, batch, n_epochs, size, log_delta):
        w.observe(update, names="value")
    update()
    return widgets.VBox([noise, batch, n_epochs, size, log_delta, out])


# --- notebook 03: identities ----------------------------------------------------------------------------------------

def identity_report(
    k: int,
    *,
    names: Sequence[str],
    private_images: np.ndarray,
    results: Mapping[str, Any],
    seeds: int,
    trait_model: Any,
    identity_traits: np.ndarray,
) -> tuple[np.ndarray, list[str], list[dict[str, str]]]:
    """Datamon ``k``: its private portrait, the reconstruction the attacker kept against each target (``results``:
    target name -> ``attacks.inversion.InversionResult``), and the traits read off the first target's one."""
    from course_lib.data import datamons
    from course_lib.models import targets

    if not 0 <= k < len(names):
        raise ValueError(f"identity index must lie in [0, {len(names)}), got {k}")
    kept = {t: r.images[k, r.chosen(seeds)[k, 0]] for t, r in results.items()}
    images = np.stack([private_images[k], *kept.values()])
    titles = ["private"] + [f"kept vs {t}" for t in kept]
    trait_names = list(datamons.TRAITS)
    read = targets.predict_traits(trait_model, next(iter(kept.values()))[None], trait_names)[0]
    rows = [{"trait": t, "true": datamons.TRAITS[t][identity_traits[k, j]],
             "read off the reconstruction": datamons.TRAITS[t][read[j]]} for j, t in enumerate(trait_names)]
    return images, titles, rows


def identity_explorer(names: Sequence[str], **report: Any) -> Any:
    """Pick a Datamon by name and see ``identity_report`` for it (same keyword arguments, except ``k``)."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from course_lib import viz

    def show(name: str) -> None:
        images, titles, rows = identity_report(list(names).index(name), names=names, **report)
        viz.image_grid(images, titles=titles, ncols=len(images), cell_size=2.0)
        plt.show()
        viz.show_table(rows)

    return widgets.interactive(show, name=widgets.Dropdown(options=list(names), description="Datamon"))


# --- notebook 04: the service's output policy -------------------------------------------------------------------

def membership_policy(model: Any, members: tuple[np.ndarray, np.ndarray], non_members: tuple[np.ndarray, np.ndarray],
                      **kwargs: Any) -> Any:
    """Choose what the prediction service returns and how much it rounds, then run the membership attack through it
    (``defenses.query_limits.membership_through_service``) on a button press."""
    import ipywidgets as widgets

    from course_lib.defenses import query_limits

    def run(output: str = "rounded", decimals: int = 1) -> None:
        result = query_limits.membership_through_service(model, members, non_members, output=output,
                                                         decimals=decimals, **kwargs)
        print(f"{output} (decimals {decimals}): membership AUC {result.auc:.3f}, advantage {result.advantage:.3f}, "
              f"{result.queries} queries")

    return widgets.interactive(run, {"manual": True, "manual_name": "run the attack"},
                               output=list(query_limits.DEFENSE_OUTPUTS),
                               decimals=widgets.IntSlider(value=1, min=0, max=4))
