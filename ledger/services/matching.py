"""`arledger matching set`: change an org unit's matching configuration (docs/rules.md section 14).

One transaction: the org unit's configuration is read, changed as the checked options ask
(:mod:`ledger.intake.matching_changes`) and stored; an unknown org unit changes nothing.
"""

from __future__ import annotations

from typing import Any

from config.settings import Settings
from ledger.intake.matching_changes import MatchingChange
from ledger.persistence.unit_of_work import UnitOfWork
from ledger.queries.matching import config_view


def set_matching(settings: Settings, org_unit: str, change: MatchingChange) -> dict[str, Any]:
    """Apply ``change`` to the org unit's configuration and return the new one as `matching
    show --json` prints it; UnknownOrgUnit when there is no such org unit."""
    with UnitOfWork(settings.database_url) as uow:
        config = change.applied_to(uow.matching.config(org_unit))
        uow.matching.set_config(org_unit, config)
        uow.commit()
    return config_view(org_unit, config)
