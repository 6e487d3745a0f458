-- Where a practitioner's availability is: a Location id, shown as an actor
-- of the Schedule, by which $find filters.
ALTER TABLE availability ADD COLUMN location text;
