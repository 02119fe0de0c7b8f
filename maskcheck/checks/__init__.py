"""The checks: one module per check, in a package per family, found by discovery."""

from maskcheck.checks.base import CaseInput, Check, Invalid, Threshold, Valid
from maskcheck.checks.registry import ENTRY_POINT_GROUP, all_checks, get_check, registered

__all__ = [
    "ENTRY_POINT_GROUP",
    "CaseInput",
    "Check",
    "Invalid",
    "Threshold",
    "Valid",
    "all_checks",
    "get_check",
    "registered",
]
