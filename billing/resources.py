"""The ``stripe`` Dagster resource: the API key through ``dg.EnvVar("STRIPE_API_KEY")``."""

from __future__ import annotations

import os

import dagster as dg

from billing.stripe_sync import Gateway, gateway_for


class StripeResource(dg.ConfigurableResource):
    """Stripe access. An empty ``api_key`` makes every sync a dry run (requests written to a file)."""

    api_key: str = ""
    api_base: str = ""

    def gateway(self) -> Gateway:
        return gateway_for(self.api_key or None, self.api_base or None)


def stripe_resource() -> StripeResource:
    """The resource for Definitions: the key stays an EnvVar (resolved by Dagster at run time); only
    whether the variable is set is checked here, so a machine without a key gets dry runs."""
    if os.environ.get("STRIPE_API_KEY"):
        return StripeResource(api_key=dg.EnvVar("STRIPE_API_KEY"))
    return StripeResource()
