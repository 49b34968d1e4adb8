-- What the directory said that applications receive unchanged (its app `roles`, `amr`), as
-- JSON, kept with the grant so refreshed tokens carry it too.
ALTER TABLE provider_grant ADD COLUMN passed_on TEXT;
