ALTER TABLE search_string ALTER COLUMN normalized TYPE TEXT COLLATE "default";
