ALTER TABLE recorded_by DROP CONSTRAINT recorded_by_pkey;
ALTER TABLE recorded_by ADD PRIMARY KEY (res_type, res_id, organization);
CREATE INDEX recorded_by_organization ON recorded_by (organization, res_type, res_id);
CREATE INDEX search_reference_reverse ON search_reference (target_type, target_id);
DROP INDEX search_reference_url;
CREATE INDEX search_reference_url ON search_reference (res_type, param, url);
DROP INDEX resources_last_updated;
INSERT INTO search_string (res_type, res_id, param, normalized, exact)
SELECT res_type, res_id, 'phonetic', normalized, exact FROM search_string
WHERE param = 'name' AND res_type IN ('Patient', 'Practitioner', 'RelatedPerson');
INSERT INTO search_date (res_type, res_id, param, low, high)
SELECT res_type, res_id, '_lastUpdated', last_updated, last_updated FROM resources
WHERE deleted = FALSE;
INSERT INTO search_token (res_type, res_id, param, code)
SELECT res_type, res_id, '_id', res_id FROM resources WHERE deleted = FALSE;
