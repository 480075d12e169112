-- Placeholder on branch scale only: version 16 belongs to another branch (roles: 0015, sec: 0016).
-- Drop this file at merge; it keeps the sequence gapless so 0017 applies on this branch.
select 1;
