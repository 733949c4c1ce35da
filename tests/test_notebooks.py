"""Every notebook runs top to bottom at the smoke profile and records the results RESULTS.md promises."""
import pytest

from course_lib import run

# The contract of shared/RESULTS.md: names that tests, the summary and run comparisons rely on.
CONTRACT = {
    "01_model_attacks": [
        "datamons_cnn_test_acc", "datamons_pixel_nn_acc", "fgsm_curve", "pgd_curve", "pgd_acc_at_budget", "pgd_budget",
        "patch_success_rate", "patch_target_class", "backdoor_clean_acc", "backdoor_clean_acc_baseline",
        "backdoor_attack_success", "mia_auc_overfit", "mia_auc_regularised", "mia_advantage_overfit",
        "extraction_probs_curve", "extraction_labels_curve",
    ],
    "02_dp_sgd": [
        "sgd_seconds_per_step", "fast_dp_seconds_per_step", "dpkeras_seconds_per_step", "tradeoff",
        "best_acc_eps_le_3", "secret_exposure_nodp", "secret_exposure_dp", "secret_extracted_nodp",
        "secret_extracted_dp", "secret_epsilon_dp", "sampling", "secret_repeats", "secret_epsilon_per_example",
        "secret_epsilon_per_secret", "secret_exposure_dp_repeated", "secret_extracted_dp_repeated",
        "mia_vs_epsilon",
    ],
    "03_secret_revealer": [
        "target_test_acc", "eval_test_acc", "gmi_top1", "gmi_top5", "gmi_top1_best_of_restarts",
        "pixel_baseline_top1", "gmi_aux_top1", "trait_recovery", "knn_distance", "psnr", "mnist_gmi_top1",
        "mnist_pixel_baseline_top1", "attack_seconds", "trait_recovery_by_trait", "trait_classifier_acc",
        "colour_baseline", "target_trait_reliance", "perfect_prior",
        # beyond shared/RESULTS.md (docs/architecture.md says what each holds)
        "gan_frechet_ratio", "gmi_without_views", "pixel_adam_ce_top1", "target_margin_kept", "aux_photo_alone_top1",
        "trait_gan_frechet_ratio", "trait_prior_obeyed", "gmi_trait_prior", "aux_frechet_ratio",
    ],
    "04_defenses": [
        "extraction_vs_budget", "mia_vs_output", "dp_vs_attacks", "blackbox_inversion_top1",
        "whitebox_inversion_top1", "attack_costs", "mia_vs_budget", "inversion_access_by_seed",
    ],
}


@pytest.mark.parametrize("notebook", run.available_notebooks(), ids=lambda p: p.stem)
def test_notebook_runs_at_smoke_and_records_its_contract(notebook, tmp_path):
    outcome = run.run_notebook(notebook, "smoke", out_dir=tmp_path, progress=False)
    assert outcome.ok, f"{notebook.stem} failed at smoke: {outcome.error} (see {tmp_path / 'smoke'})"
    missing = [name for name in CONTRACT.get(notebook.stem, []) if name not in outcome.results]
    assert not missing, f"{notebook.stem} did not record {missing}"
