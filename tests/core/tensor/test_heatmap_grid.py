"""The heatmap's pixels lie over exactly the cells whose values they show."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ckpt_browser.core.tensor.heatmap_grid import Block, HeatmapGrid, hover_text
from ckpt_browser.core.tensor.slicing import SliceSpec, downsample_for_heatmap, element_index

shapes = st.tuples(st.integers(1, 60), st.integers(1, 60))
limits = st.tuples(st.integers(1, 25), st.integers(1, 25))


def _index_coded(rows: int, columns: int) -> np.ndarray:
    """Each value says where it is: row * 1000 + column."""
    return np.arange(rows)[:, None] * 1000.0 + np.arange(columns)[None, :]


@settings(max_examples=150, deadline=None)
@given(shape=shapes, max_pixels=limits, method=st.sampled_from(["mean", "stride"]))
def test_every_cell_lies_under_the_pixel_that_shows_it(shape, max_pixels, method):
    values = _index_coded(*shape)
    pixels = downsample_for_heatmap(values, max_pixels, method=method)
    grid = HeatmapGrid.for_pixels(shape, pixels.shape, method)
    assert grid.pixels == pixels.shape
    for row in range(shape[0]):
        for column in range(shape[1]):
            pixel = grid.pixel_of(row, column)
            block = grid.block_of(*pixel)
            assert block.holds(row, column)
            cells = values[block.top : block.bottom, block.left : block.right]
            if method == "stride":
                assert pixels[pixel] == values[block.top, block.left]
            else:
                assert pixels[pixel] == cells.mean()


def test_the_reported_case_names_the_element_it_shows():
    # A 5000 x 4000 slice drawn in 1000 x 1000 pixels, every 5th row and 4th column: the cursor
    # over row 3078, column 2025 is over the pixel that holds element [3075, 2024].
    grid = HeatmapGrid.for_pixels((5000, 4000), (1000, 1000), "stride")
    assert grid.cell_at(2025.2, 3077.6) == (3078, 2025)
    text = hover_text(grid, 3078, 2025, pixel_text="30752024")
    assert (
        text == "element [3075, 2024]: 30752024 (one pixel for rows 3075–3079, columns 2024–2027)"
    )
    text = hover_text(grid, 3078, 2025, pixel_text="30752024", exact_text="30782025")
    assert text.startswith("element [3078, 2025]: 30782025  ·  pixel: element [3075, 2024]")
    mean = HeatmapGrid.for_pixels((5000, 4000), (1000, 1000), "mean")
    assert hover_text(mean, 3078, 2025, pixel_text="3.1e+07") == (
        "rows 3075–3079, columns 2024–2027: mean 3.1e+07 of 20 values"
    )


def test_readout_names_the_element_in_the_whole_tensor():
    spec = SliceSpec(row_axis=3, col_axis=1, fixed={0: 2, 2: 5})  # transposed, two fixed axes
    index = element_index(spec, (3, 7, 6, 9), 4, 6)
    assert index == (2, 6, 5, 4)
    grid = HeatmapGrid((9, 7))
    text = hover_text(
        grid,
        4,
        6,
        pixel_text="1.5",
        element_index=lambda r, c: element_index(spec, (3, 7, 6, 9), r, c),
    )
    assert text == "element [2, 6, 5, 4]: 1.5"


@settings(max_examples=150, deadline=None)
@given(
    shape=st.tuples(st.integers(50, 5000), st.integers(50, 5000)),
    corner=st.tuples(st.floats(0, 1), st.floats(0, 1)),
    size=st.tuples(st.integers(1, 1500), st.integers(1, 1500)),
)
def test_the_full_resolution_block_covers_the_view_within_the_budget(shape, corner, size):
    grid = HeatmapGrid.for_pixels(shape, (100, 100), "stride")
    top = int(corner[0] * (shape[0] - 1))
    left = int(corner[1] * (shape[1] - 1))
    visible = Block(top, left, min(shape[0], top + size[0]), min(shape[1], left + size[1]))
    block = grid.detail_block(visible, (1000, 1000))
    if not grid.downsampled or visible.shape[0] > 1000 or visible.shape[1] > 1000:
        assert block is None
        return
    assert block is not None and block.contains(visible)
    assert block.shape[0] <= 1000 and block.shape[1] <= 1000
    assert Block(0, 0, *shape).contains(block)


def test_visible_block_clips_to_the_slice():
    grid = HeatmapGrid((100, 50), (4, 4))
    assert grid.visible_block((-10.0, 9.4), (20.6, 30.2)) == Block(21, 0, 31, 10)
    assert grid.visible_block((60.0, 70.0), (0.0, 10.0)) is None
    assert HeatmapGrid((10, 10)).detail_block(Block(0, 0, 2, 2), (5, 5)) is None  # not downsampled
