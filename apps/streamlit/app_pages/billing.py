"""Billing (finance and admin): usage by customer, invoices, PDF/CSV downloads, credit notes, budget alerts."""

from functools import partial

import streamlit as st

from apps.streamlit.lib import charts, queries, ui

st.title("Billing")
days = ui.period_picker("billing_period", default="28 days")
window = queries.period(days)
st.subheader("Usage by customer")
usage = queries.usage_by_customer(window[1], window[2]) if window else None
if usage is None or usage.empty:
    ui.no_data("Usage")
else:
    totals = usage.groupby("customer_id", as_index=False)[["gpu_hours", "amount_usd"]].sum()
    st.plotly_chart(charts.usage_by_customer(usage), width="stretch")
    st.dataframe(
        totals.sort_values("amount_usd", ascending=False),
        hide_index=True,
        width="stretch",
        column_config={
            "amount_usd": st.column_config.NumberColumn("Amount", format="$%.2f"),
            "gpu_hours": st.column_config.NumberColumn("GPU h", format="%.1f"),
        },
    )

st.subheader("Invoices")
status = ui.select_or_all("Status", ["draft", "finalized", "sent", "paid"], "billing_status")
invoices = queries.invoices("invoice", status)
preset = st.session_state.get("customer_id")
if preset and not invoices.empty:
    st.caption(f"Customer {preset}")
    invoices = invoices[invoices["customer_id"] == preset]
if invoices.empty:
    st.info("No invoices yet: run the billing assets (`hcp materialize`).")
else:
    st.download_button("All invoices (CSV)", queries.invoices_csv(invoices), "invoices.csv", "text/csv")
    event = st.dataframe(
        invoices,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key="billing_invoices",
        column_config={"total_usd": st.column_config.NumberColumn("Total", format="$%.2f")},
    )
    rows = event.selection.rows if event else []
    chosen = invoices.iloc[rows[0]] if rows else invoices.iloc[0]
    lines = queries.invoice_lines(int(chosen["invoice_id"]))
    name = chosen["invoice_number"] or f"draft-{chosen['invoice_id']}"
    st.markdown(f"**{name}** · {chosen['customer_id']} · {chosen['period']} · {chosen['status']}")
    st.dataframe(lines, hide_index=True, width="stretch")
    left, right = st.columns(2)
    # Rendered by the billing reports when clicked (deferred): same files as `hcp billing report`.
    invoice_id = int(chosen["invoice_id"])
    for col, kind, mime in ((left, "pdf", "application/pdf"), (right, "csv", "text/csv")):
        col.download_button(
            kind.upper(),
            ui.guarded_download(
                "billing", ui.current_user().session_id, partial(queries.invoice_document, invoice_id, kind)
            ),
            f"{name}.{kind}",
            mime,
            key=f"inv_{kind}",
            on_click="ignore",
        )

st.subheader("Credit notes")
notes = queries.invoices("credit_note")
if notes.empty:
    st.info("No credit notes.")
else:
    st.dataframe(notes, hide_index=True, width="stretch")

st.subheader("Budget alerts")
alerts = queries.budget_alerts()
if alerts.empty:
    st.info("No budget alerts.")
else:
    st.dataframe(alerts, hide_index=True, width="stretch")
