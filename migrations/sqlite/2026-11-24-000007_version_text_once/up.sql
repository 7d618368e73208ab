-- The text of the current version is kept in `resources` only; a version row gets its text
-- when a later version replaces it.
UPDATE resource_versions SET content = NULL
WHERE content IS NOT NULL
  AND EXISTS (SELECT 1 FROM resources r
              WHERE r.res_type = resource_versions.res_type
                AND r.res_id = resource_versions.res_id
                AND r.version = resource_versions.version);
