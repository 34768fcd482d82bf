"""What every window and widget of a signed-in workstation shares: the services, the task runner, who is signed in."""

from __future__ import annotations

from dataclasses import dataclass, field

from workstation.bootstrap import Workstation
from workstation.domain.accounts import Principal
from workstation.services.signing import SigningSession

from ui.tasks import TaskRunner


@dataclass(eq=False)
class AppContext:
    """One per running window. Widgets call services only through ``tasks`` (never on the GUI thread)."""

    ws: Workstation
    tasks: TaskRunner
    principal: Principal | None = None
    session: SigningSession | None = field(default=None, repr=False)  # the signing session (continuous-session rule)
    pharmacy_name: str | None = None  # shown on the sign-in screen and the labels

    @property
    def demo(self) -> bool:
        return self.ws.settings.demo_mode
