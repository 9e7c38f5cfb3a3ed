"""The NB201 space: official order, conversions, validation messages, isomorphism, NASLib import."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import InputError
from harness.spaces import nb201
from harness.spaces.nb201 import OPS, Nb201Arch
from harness.paths import EMBEDDED_DIR

RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


def test_index_to_arch_str_equals_the_benchmark_table_for_all_cells():
    table = pd.read_csv(
        EMBEDDED_DIR / "nb201" / "nb201_accuracy.csv.gz", usecols=["index", "arch_str"]
    )
    ours = [str(a) for a in nb201.all_archs()]
    assert ours == table.sort_values("index")["arch_str"].tolist()


def test_known_cells():
    assert Nb201Arch.from_str(RESNET).index == 11472
    assert str(Nb201Arch.from_index(0)) == (
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
    )


@given(st.integers(0, nb201.NUM_CELLS - 1))
def test_round_trips(index):
    arch = Nb201Arch.from_index(index)
    assert Nb201Arch.from_str(str(arch)) == arch
    assert arch.index == index
    assert Nb201Arch.from_naslib(arch.to_naslib()) == arch
    assert nb201.parse_arch(str(index)) == nb201.parse_arch(index) == arch


@pytest.mark.parametrize(
    "text, message",
    [
        ("|nor_conv_3x3~0|+|none~0|", "expected 3 nodes joined by '+'"),
        (
            "|conv3~0|+|none~0|none~1|+|none~0|none~1|none~2|",
            "edge 1<-0 has op 'conv3'; expected one of none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3.",
        ),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|bogus~2|", "edge 3<-2 has op 'bogus'"),
        (
            "|none~0|+|none~1|none~0|+|none~0|none~1|none~2|",
            "node 2 must list inputs ~0, ~1 in order",
        ),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 must list inputs"),
    ],
)
def test_malformed_strings_give_precise_errors(text, message):
    with pytest.raises(InputError) as err:
        Nb201Arch.from_str(text)
    assert message in str(err.value) and text in str(err.value)


@pytest.mark.parametrize("index", [-1, 15625, 1.5, True])
def test_index_out_of_range(index):
    with pytest.raises(
        InputError, match=r"NB201 index .* is out of range; expected an integer in 0\.\.15624"
    ):
        Nb201Arch.from_index(index)


@pytest.mark.data
def test_naslib_encoding_matches_analognas_bench(shared_data):
    path = shared_data / "nb201" / "sources" / "analognasbench-0.1.3__data_anb__by_arch_str.csv"
    table = pd.read_csv(path, usecols=["arch_str", "index", "anb_tuple"]).sample(
        500, random_state=0
    )
    for arch_str, index, encoding in table.itertuples(index=False):
        arch = Nb201Arch.from_naslib(encoding)
        assert str(arch) == arch_str and arch.index == index
    with pytest.raises(InputError, match="expected 6 integers in 0..4"):
        Nb201Arch.from_naslib((0, 1, 2))


def test_unique_count_and_agreement_with_nats_bench():
    from nats_bench.genotype_utils import topology_str2structure

    assert nb201.num_unique() == 6466
    # Our key partitions the space exactly as NB201's own to_unique_str(consider_zero=True).
    theirs = [
        topology_str2structure(str(a)).to_unique_str(consider_zero=True) for a in nb201.all_archs()
    ]
    pairs = set(zip(nb201.unique_keys(), theirs))
    assert len(pairs) == len(set(theirs)) == 6466


def test_isomorphic_cells_share_a_key():
    # Node 1 is a copy of the input (skip), so a conv into the output from node 0 or node 1 is the same.
    a = Nb201Arch(("skip_connect", "none", "none", "nor_conv_3x3", "none", "none"))
    b = Nb201Arch(("skip_connect", "none", "none", "none", "nor_conv_3x3", "none"))
    assert a.unique_key() == b.unique_key() and a != b
    assert Nb201Arch(("none",) * 6).unique_key() != a.unique_key()
    reps = nb201.representatives()
    assert all(reps[r] == r for r in set(reps)) and all(r <= i for i, r in enumerate(reps))


def test_connectivity():
    assert not Nb201Arch(("none",) * 6).is_connected()
    assert Nb201Arch(("none", "none", "none", "skip_connect", "none", "none")).is_connected()
    # input -> 1 only, then nothing leaves node 1 or 2 toward the output
    assert not Nb201Arch(
        ("nor_conv_3x3", "none", "none", "none", "none", "avg_pool_3x3")
    ).is_connected()
    disconnected = sum(not a.is_connected() for a in nb201.all_archs())
    # brute force over edge on/off patterns: reachable(3) via non-none edges
    brute = 0
    for code in itertools.product(range(len(OPS)), repeat=6):
        on = [c != 0 for c in code]
        r1 = on[0]
        r2 = on[1] or (r1 and on[2])
        brute += not (on[3] or (r1 and on[4]) or (r2 and on[5]))
    assert disconnected == brute
