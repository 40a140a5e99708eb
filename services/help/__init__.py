"""Help centre (issue 22, M1.13): staff write categories and articles (every save a new
version), anyone reads the published ones, searches them (an n-gram index that works for
Chinese on SQLite and PostgreSQL alike), and says whether one helped."""
