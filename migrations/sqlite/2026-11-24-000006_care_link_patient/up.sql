-- A patient's care links are looked up per resource by every access check.
CREATE INDEX care_link_patient ON care_link (patient, member_system, member_value);
