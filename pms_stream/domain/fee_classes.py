"""Fee class codes (Appendix B) with their names and the labels the printed reports use.

The chapter says codes are "not limited only to those": an unknown code is valid data, kept as
is (three characters, leading zeros kept), and reported with a generic label. Used by the
statement model (fee names in JSON), the reports and the generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["FEE_CLASSES", "FeeClass", "fee_class", "report_label"]


@dataclass(frozen=True, slots=True)
class FeeClass:
    code: str
    name: str
    report_label: str | None  # the label printed reports use; None where they print none


FEE_CLASSES: Final[dict[str, FeeClass]] = {
    fc.code: fc
    for fc in (
        FeeClass("053", "Beef promotion", "BEEF FEE"),
        FeeClass("054", "Pork promotion", "PORK FEE"),
        FeeClass("055", "Honey", "HONEY FEE"),
        FeeClass("056", "Cotton", "COTTON FEE"),
        FeeClass("057", "Raspberry", None),
        FeeClass("079", "Sugar", "SUGAR FEE"),
        FeeClass("090", "Potato", "POTATO FEE"),
        FeeClass("102", "Lime", "LIME FEE"),
        FeeClass("103", "Mushroom", "MUSHROOM FEE"),
        FeeClass("104", "Watermelon", "WATERMELON FEE"),
        FeeClass("105", "Softwood lumber", "SHEEP FEE"),
        FeeClass("106", "Blueberry", "BLUEBERRY FEE"),
        FeeClass("107", "Avocado", None),
        FeeClass("108", "Mango", None),
        FeeClass("109", "Sorghum", None),
        FeeClass("110", "Dairy product", None),
        FeeClass("124", "Pecan", "PECAN FEE"),
        FeeClass("125", "Christmas tree", None),
        FeeClass("311", "Merchandise processing fee, informal entry", "MERC INFORMAL FEE"),
        FeeClass("496", "Dutiable mail", "MAIL FEE"),
        FeeClass("499", "Merchandise processing fee", "MERCHANDISE FEE"),
        FeeClass("500", "Manual entry surcharge", "MERC SURCHARGE FEE"),
        FeeClass("501", "Harbor maintenance fee", "WATERWAYS FEE"),
        FeeClass("672", "Puerto Rico coffee assessment", None),
    )
}


def fee_class(code: str) -> FeeClass:
    """The fee class of `code`; unknown codes get a generic name and label."""
    known = FEE_CLASSES.get(code)
    if known is not None:
        return known
    return FeeClass(code, f"Fee class {code}", f"FEE CLASS {code}")


def report_label(code: str) -> str:
    """The label a printed report uses for `code` (upper case, at most 30 characters)."""
    fc = fee_class(code)
    if fc.report_label:
        return fc.report_label
    name = fc.name.upper()
    return f"{name} FEE" if len(name) <= 26 else name[:30].rstrip()
