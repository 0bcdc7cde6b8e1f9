import numpy as np

from explorer.plots import clicked_z


def test_clicked_z_reads_a_plotly_selection_event():
    event = {"selection": {"points": [{"x": 1.5, "y": -0.25, "curve_number": 10}]}}
    np.testing.assert_allclose(clicked_z(event), [1.5, -0.25])
    assert clicked_z({"selection": {"points": []}}) is None
    assert clicked_z(None) is None



def test_picked_index_reads_the_test_index_from_customdata():
    from explorer.plots import picked_index

    event = {"selection": {"points": [{"x": 0.1, "y": 0.2, "customdata": [7, 4242]}]}}
    assert picked_index(event) == 4242
    webgl = {"selection": {"points": [{"x": 0.1, "y": 0.2, "customdata": {"0": 7, "1": 642}}]}}
    assert picked_index(webgl) == 642
    assert picked_index({"selection": {"points": [{"x": 0.1, "y": 0.2}]}}) is None
    assert picked_index({}) is None



def test_training_curves_and_kl_chart():
    from explorer import plots

    history = [{"epoch": e, "train_loss": 150 - e, "test_loss": 151 - e} for e in (1, 2, 3)]
    fig = plots.training_curves(history)
    assert [t.name for t in fig.data] == ["train loss", "test loss"]
    assert list(fig.data[1].y) == [150, 149, 148]
    fig = plots.kl_per_dimension([2.0, 0.001, 1.5], [0.9, 0.0001, 0.5], threshold=0.01)
    assert list(fig.data[0].marker.color) == [plots.ACTIVE_COLOR, "#c8c8c8", plots.ACTIVE_COLOR]
    assert "2 of 3 active" in fig.layout.title.text



def test_styled_figures_for_the_dark_theme_and_presenter_mode():
    from explorer import plots

    labels = np.arange(20) % 10
    codes = np.random.default_rng(0).normal(size=(20, 2))
    plain = plots.latent_scatter(codes, labels, "t", path=codes[:3], marks=[("x", codes[0])])
    big = plots.styled(plots.latent_scatter(codes, labels, "t", path=codes[:3]), presenter=True)
    assert big.layout.font.size == plots.PRESENTER_FONT > plain.layout.font.size
    assert big.data[0].marker.size == plain.data[0].marker.size * plots.PRESENTER_SCALE
    assert big.data[10].line.width == plain.data[10].line.width * plots.PRESENTER_SCALE
    dark = plots.styled(plots.latent_scatter(codes, labels, "t", path=codes[:3]), dark=True)
    assert plain.data[10].line.color == plots.MARK_COLOR and dark.data[10].line.color == plots.DARK_MARK_COLOR
    assert dark.layout.paper_bgcolor == "rgba(0,0,0,0)"
    assert dark.data[0].marker.color == plain.data[0].marker.color  # the class colours stay
    bars = plots.styled(plots.kl_per_dimension([1.0, 0.1], [0.5, 0.0], 0.01), dark=True, presenter=True)
    assert bars.layout.font.size == plots.PRESENTER_FONT  # bars have no marker size: left alone

