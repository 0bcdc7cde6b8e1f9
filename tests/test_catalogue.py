
from train import ModelConfig, build_model, save_checkpoint


def test_list_checkpoints_reads_every_folder_and_reports_broken_ones(tmp_path):
    from explorer.catalogue import list_checkpoints
    from train.schema import headline

    model = build_model(ModelConfig(kind="vae", latent_dim=2, hidden_dims=(8,)))
    vae_metrics = {"test_negative_elbo": 140.25, "test_recon_nll": 135.0, "test_kl": 5.25, "active_units": 2,
                   "kl_per_dim": [3.0, 2.25], "mean_variance_per_dim": [1.0, 0.5]}
    save_checkpoint(model, tmp_path / "b-vae", dataset={"name": "mnist"}, metrics=vae_metrics)
    save_checkpoint(build_model(ModelConfig(kind="ae", hidden_dims=(8,))), tmp_path / "a-ae",
                    dataset={"name": "fashion-mnist"}, metrics={"test_recon_nll": 130.5})
    (tmp_path / "c-broken").mkdir()
    (tmp_path / ".d-tmp").mkdir()  # a checkpoint being written: hidden, skipped
    save_checkpoint(model, tmp_path / "e-no-dataset", metrics=vae_metrics)
    infos = list_checkpoints(tmp_path)
    assert [i.name for i in infos] == ["a-ae", "b-vae", "c-broken", "e-no-dataset"]
    assert headline(infos[0].metrics) == "recon NLL 130.5 nats" and infos[0].model_config.kind == "ae"
    assert infos[0].dataset == "fashion-mnist" and infos[0].error is None
    assert headline(infos[1].metrics) == "−ELBO 140.2 nats" and infos[1].dataset == "mnist"
    assert infos[2].error and "has no config.json" in infos[2].error
    assert infos[2].model_config is None and infos[2].dataset is None and infos[2].metrics == {}
    assert "'dataset.name' must be one of" in infos[3].error
    assert list_checkpoints(tmp_path / "missing") == []



def test_model_card_rows_say_only_what_matters_for_the_kind():
    from explorer.catalogue import card_data_rows, card_model_rows, card_training_rows
    from train import ModelConfig

    dae = card_model_rows(ModelConfig(kind="dae", noise="gaussian", noise_level=0.3, likelihood="gaussian",
                                      sigma=0.5))
    assert dae["corruption"] == "gaussian, level 0.3" and dae["likelihood p(x|z)"] == "gaussian (σ = 0.5)"
    assert "β (KL weight)" not in dae and "classes" not in dae
    cvae = card_model_rows(ModelConfig(kind="cvae", beta=4.0))
    assert cvae["β (KL weight)"] == "4" and cvae["classes"] == "10" and "corruption" not in cvae
    data = card_data_rows({"name": "mnist", "n_train": 60000, "n_test": 10000, "binarized": True,
                           "test_binarization_seed": 0})
    assert data["dataset"] == "mnist: 60000 train / 10000 test" and data["binarized"].endswith("seed 0")
    training = card_training_rows({"lr": 0.002, "lr_final": 2e-05, "batch_size": 256, "precision": "auto"},
                                  {"epochs": 30, "wall_time_s": 42.3, "device_name": "x86_64"})
    assert training["Adam learning rate"] == "0.002 → 2e-05 (cosine)"
    assert training["training time"] == "42.3 s on x86_64" and training["epochs × batch"] == "30 × 256"
