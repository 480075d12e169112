-- Placeholder on branch sec: version 15 belongs to another branch (the lead renumbers at merge).
-- It keeps the sequence gapless, which core.migrate requires; it changes nothing.
select 1;
