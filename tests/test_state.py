"""View state in the URL: the parsers refuse what a page cannot show."""

import numpy as np
import pytest

from explorer import state


def test_z_round_trips_through_its_url_text():
    z = np.array([0.1234, -2.5], np.float32)
    text = state.show_z(z)
    assert text == "0.123,-2.500"
    np.testing.assert_allclose(state.parse_z(text), [0.123, -2.5], atol=1e-6)
    assert state.parse_z(text).dtype == np.float32


@pytest.mark.parametrize("text", ["1", "1,2,3", "a,b", "nan,0", "inf,1", "", "1e308,1e308", "0,-1000.5"])
def test_bad_z_is_refused(text):
    with pytest.raises(ValueError):
        state.parse_z(text)


def test_bounded_numbers_and_choices():
    assert state.int_in(0, 9)("7") == 7
    assert state.float_in(0.0, 0.9)("0.25") == 0.25
    assert state.one_of("linear", "spherical")("spherical") == "spherical"
    for parse, text in [(state.int_in(0, 9), "10"), (state.int_in(0, 9), "-1"), (state.int_in(0, 9), "2.5"),
                        (state.float_in(0.0, 0.9), "nan"), (state.float_in(0.0, 0.9), "1.5"),
                        (state.one_of("linear"), "zigzag"), (state.parse_flag, "maybe"),
                        (state.parse_text, "x" * 201)]:
        with pytest.raises(ValueError):
            parse(text)


def test_flags():
    assert all(state.parse_flag(t) for t in ("1", "true", "Yes", "on"))
    assert not any(state.parse_flag(t) for t in ("0", "false", "no", "OFF"))
    assert state.show_flag(True) == "1" and state.show_flag(False) == "0"
