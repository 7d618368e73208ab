-- Resource text is stored zstd-compressed, as a BLOB in the `content` columns (SQLite keeps a
-- BLOB as it is whatever the column's declared type). Existing text stays as it is and is read
-- as plain JSON, so nothing changes here; this migration keeps both backends' lists alike.
SELECT 1;
