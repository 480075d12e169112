-- TOTP second factor: the secret is stored encrypted with the PII key (AES-256-GCM envelope bound
-- to the username, like the other encrypted columns), never in clear; and the last accepted time
-- step per user, so a code cannot be used twice (replay within its window is refused).
-- Clear secrets of earlier versions are sealed by core.migrate.prepare (it needs the key, which
-- the database never sees) and the clear column is emptied there.
alter table ops.app_users add column if not exists totp_secret_encrypted bytea;
alter table ops.app_users add column if not exists totp_key_id text;
alter table ops.app_users add column if not exists totp_last_step bigint;
