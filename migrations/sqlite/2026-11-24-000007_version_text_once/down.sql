UPDATE resource_versions SET content = (
    SELECT r.content FROM resources r
    WHERE r.res_type = resource_versions.res_type
      AND r.res_id = resource_versions.res_id
      AND r.version = resource_versions.version)
WHERE content IS NULL AND deleted = FALSE;
