"""REPORT stage: executive deck (PDF), dashboard tables and Meridian's HTML pages (see ``stage``)."""
