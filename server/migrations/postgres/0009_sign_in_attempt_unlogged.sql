-- A sign-in attempt lives ten minutes and is used once: it needs no crash safety, and writing
-- it to the write-ahead log made every sign-in wait for two more disk flushes (the attempt
-- started, the attempt used) than the one its session needs. After a crash PostgreSQL empties
-- an unlogged table: sign-ins in flight start again, and no attempt can be used twice.
ALTER TABLE sign_in_attempt SET UNLOGGED;
