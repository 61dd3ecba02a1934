"""Pages of the reviews: campaigns and cycles for admins and auditors, queues for reviewers.

Views check access, read rows and call `reviews.services` for every change; they never call
Graph. A refused change (`services.ReviewError`) is shown to the person as a message and the
page they came from is shown again, with nothing written.
"""

from .audit import audit, audit_csv
from .campaigns import (
    campaign_detail,
    campaign_edit,
    campaign_new,
    campaign_pause,
    campaign_resume,
    campaigns,
)
from .cycles import (
    cycle_apply,
    cycle_detail,
    cycle_remind,
    cycle_reset,
    cycle_retry,
    cycle_stop,
    results,
    results_csv,
)
from .home import home, my_reviews, overview
from .queue import accept_all, decide, queue

__all__ = [
    "accept_all",
    "audit",
    "audit_csv",
    "campaign_detail",
    "campaign_edit",
    "campaign_new",
    "campaign_pause",
    "campaign_resume",
    "campaigns",
    "cycle_apply",
    "cycle_detail",
    "cycle_remind",
    "cycle_reset",
    "cycle_retry",
    "cycle_stop",
    "decide",
    "home",
    "my_reviews",
    "overview",
    "queue",
    "results",
    "results_csv",
]
