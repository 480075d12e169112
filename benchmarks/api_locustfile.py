"""Locust users of ``hcp bench api``: customers and an operator calling every list endpoint and the
invoice and workload documents, with think time (a client waits 0.5 to 1.5 s between calls).

The keys and ids come from ``HCP_BENCH_API`` (JSON written by benchmarks/api.py)."""

from __future__ import annotations

import json
import os
import random

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser

SETUP = json.loads(os.environ.get("HCP_BENCH_API", "{}"))


class Customer(FastHttpUser):
    weight = 4
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.customer = random.choice(list(SETUP["customers"]))
        self.auth = {"Authorization": f"Bearer {SETUP['customers'][self.customer]['token']}"}

    def _get(self, path: str, name: str, **params) -> None:
        with self.client.get(path, headers=self.auth, params=params, name=name, catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}")

    @task(3)
    def usage(self) -> None:
        self._get("/v1/usage", "/v1/usage", limit=100)

    @task(2)
    def invoices(self) -> None:
        self._get("/v1/invoices", "/v1/invoices", limit=100)

    @task(1)
    def credit_notes(self) -> None:
        self._get("/v1/credit-notes", "/v1/credit-notes", limit=100)

    @task(2)
    def workloads(self) -> None:
        self._get("/v1/workloads", "/v1/workloads", limit=100)

    @task(2)
    def sessions(self) -> None:
        self._get("/v1/sessions", "/v1/sessions", limit=100)

    @task(2)
    def invoice(self) -> None:
        ids = SETUP["customers"][self.customer]["invoices"]
        if ids:
            self._get(f"/v1/invoices/{random.choice(ids)}", "/v1/invoices/{id}")


class Operator(FastHttpUser):
    weight = 1
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.auth = {"Authorization": f"Bearer {SETUP['operator']}"}

    def _get(self, path: str, name: str, **params) -> None:
        with self.client.get(path, headers=self.auth, params=params, name=name, catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}")

    @task(2)
    def plans(self) -> None:
        self._get("/v1/plans", "/v1/plans", limit=100)

    @task(2)
    def plan_devices(self) -> None:
        self._get("/v1/plans/current/devices", "/v1/plans/current/devices", limit=100)

    @task(1)
    def current_plan(self) -> None:
        self._get("/v1/plans/current", "/v1/plans/current")

    @task(2)
    def usage_all(self) -> None:
        self._get("/v1/usage", "/v1/usage", limit=100)
