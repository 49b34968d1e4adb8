-- Mapping members to directory users.

-- The mapped directory user's UPN, when Gatehouse read it from the directory (picker,
-- suggestions, members added from the directory); searchable in the members list.
ALTER TABLE member ADD COLUMN directory_upn TEXT;
