DROP TABLE sharing;
DROP TABLE care_link;
