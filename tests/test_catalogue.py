
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

