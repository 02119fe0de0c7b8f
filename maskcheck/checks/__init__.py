"""The checks, one module per family; importing this package registers them."""

from maskcheck.checks.base import REGISTRY, Case, CaseInput, Check, all_checks, get_check, register

__all__ = ["REGISTRY", "Case", "CaseInput", "Check", "all_checks", "get_check", "register"]
