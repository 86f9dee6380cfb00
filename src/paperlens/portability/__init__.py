"""Readers own their data, and admins can move a whole instance.

* :mod:`.reader`: :class:`~.reader.ReaderData`, one reader's export archive (JSON plus
  BibTeX and RIS of each collection), its import into another server in one transaction,
  and account deletion. What a reader owns is the list of sections in
  :mod:`paperlens.store.portability`.
* :mod:`.archive`: reading a zip someone uploaded without trusting it (sizes checked
  before anything is extracted, no path tricks, one JSON document).
* :mod:`.citations`: BibTeX and RIS of a list of papers, in one place.
* :mod:`.instance`: an admin's streamed dump and load of a whole instance (SQLite <->
  PostgreSQL).
"""
