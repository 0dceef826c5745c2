"""Who is calling the control plane."""

from __future__ import annotations

from dataclasses import dataclass

from tollway.domain.errors import Forbidden


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: str
    role: str
    organization_id: str
    email: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def require(self, *roles: str) -> None:
        """Admins may do anything; everyone else needs one of ``roles``."""
        if self.role not in roles and not self.is_admin:
            raise Forbidden(f"this action needs the role {' or '.join(roles)}")
