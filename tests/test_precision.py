"""`precision="auto"`: the hardware decides between float32 and mixed_bfloat16."""

import pytest

from imgenlib.precision import BF16_CPU_FLAGS, PrecisionChoice, choose_precision, cpu_flags
from imgenlib.runs import RunConfig

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
flags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16
processor\t: 1
flags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16
"""


def test_cpu_flags_reads_the_first_flags_line(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    assert cpu_flags(path) == {"fpu", "sse2", "avx2", "fma", "avx512f", "avx512_bf16"}
    assert cpu_flags(tmp_path / "missing") is None
    path.write_text("processor\t: 0\n")
    assert cpu_flags(path) is None


def test_this_machine_is_read_like_grep_reads_it():
    """The choice on this machine agrees with the flags as a plain text search finds them."""
    text = open("/proc/cpuinfo").read()
    native = any(f" {flag}" in text for flag in BF16_CPU_FLAGS)
    chosen = choose_precision("gan", gpus=[])
    assert chosen.policy == ("mixed_bfloat16" if native else "float32"), chosen.reason


@pytest.mark.parametrize(
    ("kind", "flags", "gpus", "policy", "words"),
    [
        ("gan", {"avx2", "avx512_bf16"}, [], "mixed_bfloat16", "natively (avx512_bf16)"),
        ("diffusion", {"amx_bf16", "amx_tile"}, [], "mixed_bfloat16", "natively (amx_bf16)"),
        ("gan", {"avx2", "fma", "avx512f"}, [], "float32", "would be emulated"),
        ("diffusion", None, [], "float32", "could not be read"),
        ("vae", {"avx512_bf16"}, [], "float32", "ELBO"),
        ("vae", set(), [(9, 0)], "float32", "ELBO"),
        ("gan", set(), [(8, 0)], "mixed_bfloat16", "compute capability 8.0"),
        ("diffusion", {"avx512_bf16"}, [(7, 5)], "float32", "compute capability 7.5"),
        ("gan", set(), [None], "float32", "compute capability unknown"),
    ],
)
def test_choice_table(kind, flags, gpus, policy, words):
    chosen = choose_precision(kind, flags=flags, gpus=gpus)
    assert isinstance(chosen, PrecisionChoice) and chosen.policy == policy
    assert chosen.reason.startswith(f"auto: {policy}") and words in chosen.reason


def test_bad_kind_names_the_value():
    with pytest.raises(ValueError, match="Unknown kind 'gam'"):
        choose_precision("gam", flags=set(), gpus=[])


def test_run_config_accepts_auto_for_every_kind_and_still_refuses_a_bfloat16_vae():
    for kind in ("gan", "vae", "diffusion"):
        assert RunConfig(kind=kind, data="digits", out="x", precision="auto").precision == "auto"
    with pytest.raises(ValueError, match="Received: precision='mixed_bfloat16' for a vae"):
        RunConfig(kind="vae", data="digits", out="x", precision="mixed_bfloat16")
    with pytest.raises(ValueError, match="Unknown precision 'float16'"):
        RunConfig(kind="gan", data="digits", out="x", precision="float16")
