import pytest

from dprobe.data.batches import evenly_spaced


@pytest.mark.parametrize("n_items, n, expected", [
    (9, 3, [1, 4, 7]),         # the middle of each third
    (3456, 1, [1728]),         # one frame is the middle one, not the first
    (10, 4, [1, 3, 6, 8]),
    (5, 5, [0, 1, 2, 3, 4]),
    (5, 8, [0, 1, 2, 3, 4]),   # more than there are: all of them
    (5, None, [0, 1, 2, 3, 4]),
])
def test_evenly_spaced_takes_the_middle_of_equal_parts(n_items, n, expected):
    assert evenly_spaced(n_items, n) == expected


def test_evenly_spaced_indices_are_distinct_and_in_range():
    for n_items in range(1, 40):
        for n in range(1, n_items + 1):
            idx = evenly_spaced(n_items, n)
            assert len(set(idx)) == n and min(idx) >= 0 and max(idx) < n_items
