-- `_id` and `_lastUpdated` are answered from the resources row, and `phonetic` from the rows of
-- `name` where R4 gives both the same expression: their own rows repeated those values.
DELETE FROM search_token WHERE param = '_id';
DELETE FROM search_date WHERE param = '_lastUpdated';
DELETE FROM search_string
WHERE param = 'phonetic' AND res_type IN ('Patient', 'Practitioner', 'RelatedPerson');
CREATE INDEX resources_last_updated ON resources (res_type, last_updated);

-- A reference is looked up by its parameter and target (search_reference_target) or by the
-- resource holding it, never by its target alone. The index on URLs holds only the references
-- that have one: a plan kept for a search by target could otherwise take it for as good as
-- search_reference_target and read every reference of the parameter.
DROP INDEX search_reference_reverse;
DROP INDEX search_reference_url;
CREATE INDEX search_reference_url ON search_reference (res_type, param, url) WHERE url IS NOT NULL;

-- One index serves both lookups: the organisations of a resource, and the resources of a type
-- that an organisation recorded. SQLite cannot change a primary key in place.
CREATE TABLE recorded_by_new (
    res_type     TEXT NOT NULL,
    res_id       TEXT NOT NULL,
    organization TEXT NOT NULL,
    PRIMARY KEY (res_type, organization, res_id)
);
INSERT INTO recorded_by_new (res_type, res_id, organization)
SELECT res_type, res_id, organization FROM recorded_by;
DROP TABLE recorded_by;
ALTER TABLE recorded_by_new RENAME TO recorded_by;
