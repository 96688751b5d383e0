import numpy as np
import pytest

from imgenlib._validation import (
    check_choice,
    check_float,
    check_image_labels,
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


def test_image_labels_one_int_per_image():
    labels = np.array([2, 0, 1], np.int64)
    assert check_image_labels("labels", labels, 3) is labels
    assert check_image_labels("labels", [1, 1], 2).tolist() == [1, 1]
    message = r"^labels must be 3 ints, one label per image. Received: labels.shape=\(2,\) "
    with pytest.raises(ValueError, match=message + "and labels.dtype=int64$"):
        check_image_labels("labels", np.array([0, 1], np.int64), 3)
    for bad in ([0.0, 1.0], [True, False], ["a", "b"], [[0, 1]]):
        with pytest.raises(ValueError, match="must be 2 ints"):
            check_image_labels("labels", bad, 2)


def test_latent_validators_name_the_argument_and_the_expected_shape():
    from imgenlib._validation import (
        check_array,
        check_latent_model,
        check_latents,
        check_quantile_span,
        check_rows,
        check_same_size,
        check_values,
        check_vector,
    )

    assert check_vector("z", [[1, 2, 3]], 3).shape == (3,)
    with pytest.raises(ValueError, match=r"z must be one latent vector of shape \(latent_dim=4,\)"):
        check_vector("z", np.zeros(3), 4)
    assert check_latents("z", np.zeros(3)).shape == (1, 3)
    with pytest.raises(ValueError, match=r"Received: z.shape=\(2, 3\)"):
        check_latents("z", np.zeros((2, 3)), 4)
    with pytest.raises(ValueError, match="NaN or Inf"):
        check_array("z", [np.inf])
    with pytest.raises(TypeError, match="numeric array"):
        check_array("z", ["a"])
    with pytest.raises(ValueError, match="non-empty 1-D"):
        check_values("values", [])
    assert check_rows("x", np.zeros((2, 3, 4))).shape == (2, 12)
    with pytest.raises(ValueError, match="non-empty batch"):
        check_rows("x", np.zeros(3))
    with pytest.raises(ValueError, match="a: 2, b: 3"):
        check_same_size(("a", "b"), np.zeros(2), np.zeros(3))
    assert check_quantile_span("span", 0.9) == pytest.approx((0.1, 0.9))
    with pytest.raises(ValueError, match="low < high"):
        check_quantile_span("span", (0.6, 0.4))

    class Model:
        latent_dim = 8

        def generate(self, z=None, labels=None):
            return z

    assert check_latent_model(Model()) == 8
    with pytest.raises(TypeError, match="int latent_dim and a generate"):
        check_latent_model(object())
