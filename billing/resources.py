"""The ``stripe`` Dagster resource: the API key and endpoint come from settings only.

The Dagster UI's launchpad can override any resource config field in a run's config. A field for
the key or the endpoint (``api_base``) would let anyone who reaches the UI point the sync at their
own server and receive the key, so the resource has no config fields at all: ``STRIPE_API_KEY`` and
``STRIPE_API_BASE`` are read from the environment of the process that runs the step, and a run
config that names either is rejected by Dagster's config validation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:  # the stripe SDK loads in the runs that sync, not in every run of the code location
    from billing.stripe_sync import Gateway


class StripeResource(dg.ConfigurableResource):
    """Stripe access from settings; without ``STRIPE_API_KEY`` every sync is a dry run (requests
    written to a file)."""

    def gateway(self) -> Gateway:
        from billing.stripe_sync import gateway_for
        from core.settings import Settings

        settings = Settings()  # read now, in the step's process, never from run config
        return gateway_for(settings.stripe_api_key, settings.stripe_api_base)

    @property
    def dry_run(self) -> bool:
        from core.settings import Settings

        return not Settings().stripe_api_key


def stripe_resource() -> StripeResource:
    """The resource for Definitions (no config: nothing a launchpad could override)."""
    return StripeResource()
