"""The HCP REST API (FastAPI): usage, invoices, workloads and the plan for customers and integrations."""
