-- A digest of the text each embedding was computed from (matching.text.text_hash), so the
-- embed job finds the profiles whose text changed without embedding them all again. NULL
-- (rows written before this column) counts as changed.
ALTER TABLE user_features ADD COLUMN text_hash text;
