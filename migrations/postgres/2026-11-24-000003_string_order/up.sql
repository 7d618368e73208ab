-- String search compares normalised text by code point, so that a starts-with search is an
-- index range whatever the database's collation is.
ALTER TABLE search_string ALTER COLUMN normalized TYPE TEXT COLLATE "C";
