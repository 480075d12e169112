-- Version 3 was never shipped (its number was skipped when 0002 grew to hold every raw table).
-- This file keeps the sequence gapless, which core.migrate now requires; it changes nothing.
select 1;
