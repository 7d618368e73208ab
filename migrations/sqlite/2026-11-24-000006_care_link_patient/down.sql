DROP INDEX care_link_patient;
