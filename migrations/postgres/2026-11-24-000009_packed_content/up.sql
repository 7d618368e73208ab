-- Resource text is stored zstd-compressed (about half its size; PostgreSQL compresses only rows
-- over 2 kB). Existing text stays as it is, as UTF-8 bytes: a value starting with `{` is read
-- as plain JSON.
ALTER TABLE resources ALTER COLUMN content TYPE BYTEA USING convert_to(content, 'UTF8');
ALTER TABLE resource_versions ALTER COLUMN content TYPE BYTEA USING convert_to(content, 'UTF8');
