"""The launch matrix: every product × template × language × model × variant of a campaign.

:class:`Matrix` is pure (no database): launch, estimate, the dashboard and the grid all
count and walk cells through it, so the cell-count formula lives here only. Its axes are
named after the input fields that set them (``product_ids``, ``template_ids``,
``model_ids``, ``variants``, ``languages``), so a matrix over the cell limit names the
field that grew it.

Cells are ordered product, template, language, model, variant; the *prompts* of a matrix
are its distinct (product, template, language): cells that differ only by model or
variant send the same prompt.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["MAX_CELLS", "Cell", "Matrix", "MatrixTooLarge"]

MAX_CELLS = 200_000

P = TypeVar("P")
T = TypeVar("T")
M = TypeVar("M")

# What a count of each axis is called in an error message.
AXIS_NOUNS = {
    "product_ids": "products",
    "template_ids": "templates",
    "languages": "languages",
    "model_ids": "models",
    "variants": "variants",
}


class MatrixTooLarge(ValueError):
    """The matrix has more cells than allowed; ``field`` is the axis to shrink."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Cell(Generic[P, T, M]):
    product: P
    template: T
    language: str  # "" when the campaign names no languages: the product's own
    model: M
    variant: int


@dataclass(frozen=True)
class Matrix(Generic[P, T, M]):
    """The cells of a campaign; ``languages`` empty means each product's own language."""

    products: Sequence[P]
    templates: Sequence[T]
    models: Sequence[M]
    variants: int = 1
    languages: Sequence[str] = ()

    @classmethod
    def counted(cls, *, products: int, templates: int, models: int, variants: int, languages: int) -> Matrix[Any, Any, Any]:
        """A matrix known only by the size of its axes (the dashboard's annotated counts)."""
        return Matrix(range(products), range(templates), range(models), variants, [""] * languages)

    @property
    def axes(self) -> dict[str, int]:
        """The count of each axis, by the field that sets it (no languages counts as one)."""
        return {
            "product_ids": len(self.products),
            "template_ids": len(self.templates),
            "languages": max(1, len(self.languages)),
            "model_ids": len(self.models),
            "variants": self.variants,
        }

    @property
    def size(self) -> int:
        """The number of cells."""
        return self.prompt_count * len(self.models) * self.variants

    @property
    def prompt_count(self) -> int:
        """The number of distinct prompts: product × template × language."""
        return len(self.products) * len(self.templates) * max(1, len(self.languages))

    @property
    def columns_per_product(self) -> int:
        return self.size // len(self.products) if self.products else 0

    def prompts(self) -> Iterator[tuple[P, T, str]]:
        """Each distinct (product, template, language), in cell order."""
        for product in self.products:
            for template in self.templates:
                for language in self.languages or [""]:
                    yield product, template, language

    def cells(self) -> Iterator[Cell[P, T, M]]:
        for product, template, language in self.prompts():
            for model in self.models:
                for variant in range(1, self.variants + 1):
                    yield Cell(product, template, language, model, variant)

    def check(self, limit: int = MAX_CELLS, *, changed: Collection[str] = ()) -> None:
        """Raise :class:`MatrixTooLarge` if the matrix has more than ``limit`` cells.

        The error names the axis that grew it: among the fields in ``changed`` (an edit),
        else among all, the one with the largest count.
        """
        size = self.size
        if size <= limit:
            return
        axes = self.axes
        candidates = [f for f in axes if f in changed] or list(axes)
        field = max(candidates, key=lambda f: axes[f])
        raise MatrixTooLarge(
            field,
            f"{field}: {axes[field]} {AXIS_NOUNS[field]} make the campaign {size} cells "
            f"({self.formula()}); the limit is {limit}",
        )

    def formula(self) -> str:
        return " × ".join(f"{count} {AXIS_NOUNS[f]}" for f, count in self.axes.items())
