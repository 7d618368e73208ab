-- Compressed values cannot be turned back into text in SQL: this only succeeds on a database
-- that holds no compressed value yet.
ALTER TABLE resources ALTER COLUMN content TYPE TEXT USING convert_from(content, 'UTF8');
ALTER TABLE resource_versions ALTER COLUMN content TYPE TEXT USING convert_from(content, 'UTF8');
