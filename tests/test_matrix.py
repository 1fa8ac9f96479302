"""The launch matrix: size, cells, prompts, and the field named when it grows too large."""

from __future__ import annotations

import pytest

from campaigns.services.matrix import MAX_CELLS, Matrix, MatrixTooLarge


def test_size_counts_every_axis_and_no_languages_as_one() -> None:
    matrix = Matrix(products=["p1", "p2", "p3"], templates=["t1", "t2"], models=["m1", "m2"], variants=4)
    assert matrix.size == 3 * 2 * 2 * 4 == len(list(matrix.cells()))
    assert matrix.prompt_count == 6 == len(list(matrix.prompts()))
    assert Matrix(["p"], ["t"], ["m"], 1, ["en", "fr"]).size == 2


def test_cells_share_a_prompt_when_they_differ_only_by_model_or_variant() -> None:
    matrix = Matrix(products=["p"], templates=["t"], models=["m1", "m2"], variants=3, languages=["en", "de"])
    cells = list(matrix.cells())
    assert [(c.language, c.model, c.variant) for c in cells[:6]] == [
        ("en", "m1", 1), ("en", "m1", 2), ("en", "m1", 3), ("en", "m2", 1), ("en", "m2", 2), ("en", "m2", 3),
    ]
    assert list(matrix.prompts()) == [("p", "t", "en"), ("p", "t", "de")]


def test_counted_matrix_has_the_same_size() -> None:
    assert Matrix.counted(products=5, templates=3, models=2, variants=2, languages=0).size == 60
    assert Matrix.counted(products=5, templates=3, models=2, variants=2, languages=3).size == 180


def test_over_the_limit_names_the_largest_axis_with_its_count() -> None:
    matrix = Matrix.counted(products=1000, templates=300, models=1, variants=1, languages=0)
    with pytest.raises(MatrixTooLarge) as err:
        matrix.check()
    assert err.value.field == "product_ids"
    assert err.value.message.startswith("product_ids: 1000 products make the campaign 300000 cells")
    assert f"the limit is {MAX_CELLS}" in err.value.message


def test_an_edit_over_the_limit_names_the_changed_field() -> None:
    matrix = Matrix.counted(products=1000, templates=10, models=3, variants=10, languages=0)
    with pytest.raises(MatrixTooLarge) as err:
        matrix.check(changed={"model_ids", "name"})
    assert err.value.field == "model_ids" and "3 models" in err.value.message
    Matrix.counted(products=1000, templates=10, models=2, variants=10, languages=0).check(changed={"model_ids"})
