"""The base class of every config section (no torch, no other project module)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Base for config sections: unknown keys are errors, assignments are re-validated.

    Every subclass is remembered in creation order (``created``) and its registry-collected
    fields (``configs.registry.section``) are noted, so ``configs.registry.refresh`` can widen
    them when a plug-in registers a component and rebuild each model after those it contains.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    created: ClassVar[list[type["StrictModel"]]] = []

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        from configs.registry import track_sections

        StrictModel.created.append(cls)
        track_sections(cls)
