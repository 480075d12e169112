-- Stripe sync intents: written (and committed) before each create call, so that after a crash
-- between Stripe's answer and our record, a retry, even after Stripe forgot the idempotency key
-- (24 h), first looks the object up by our metadata instead of creating it again.
create table if not exists billing.stripe_intents (
    object_type     text        not null,
    our_id          text        not null,
    idempotency_key text        not null,
    intended_at     timestamptz not null default now(),
    primary key (object_type, our_id)
);
