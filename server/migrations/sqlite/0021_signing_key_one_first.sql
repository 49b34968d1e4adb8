-- One first key per algorithm: a first key signs from before the moment it is made (a
-- rotated one from an hour after), so two instances that both find no key and make one at the
-- same moment cannot both store theirs; the one that loses reads the winner's.
CREATE UNIQUE INDEX signing_key_one_first ON signing_key (alg) WHERE signs_from <= created_at;
