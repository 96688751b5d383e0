import numpy as np
import pytest

from imgenlib._validation import (
    check_choice,
    check_float,
    check_image_size,
    check_int,
    check_positive_int,
)


def test_positive_int_message_shows_received_value():
    with pytest.raises(
        ValueError, match=r"^latent_dim must be a positive int. Received: latent_dim=0$"
    ):
        check_positive_int("latent_dim", 0)
    with pytest.raises(TypeError, match="latent_dim=True"):
        check_positive_int("latent_dim", True)
    with pytest.raises(TypeError, match="latent_dim=2.0"):
        check_positive_int("latent_dim", 2.0)
    assert check_positive_int("latent_dim", np.int64(3)) == 3


def test_int_bounds():
    assert check_int("k", 0, minimum=0) == 0
    with pytest.raises(ValueError, match="k must be an int <= 5. Received: k=6"):
        check_int("k", 6, maximum=5)


def test_float_bounds_and_finiteness():
    assert check_float("beta", 1) == 1.0
    with pytest.raises(ValueError, match="beta must be > 0"):
        check_float("beta", 0.0, minimum=0, min_inclusive=False)
    with pytest.raises(ValueError, match="finite"):
        check_float("beta", float("nan"))
    with pytest.raises(TypeError, match="beta='1'"):
        check_float("beta", "1")


def test_choice_lists_options():
    with pytest.raises(
        ValueError, match="Unknown loss 'hinj'; expected one of 'hinge', 'minimax'."
    ):
        check_choice("loss", "hinj", ["hinge", "minimax"])


def test_image_size_forms():
    assert check_image_size("image_size", 28) == (28, 28)
    assert check_image_size("image_size", (16, 32)) == (16, 32)
    with pytest.raises(TypeError):
        check_image_size("image_size", (1, 2, 3))
    with pytest.raises(ValueError, match=r"Received: image_size=\(0, 4\)"):
        check_image_size("image_size", (0, 4))
