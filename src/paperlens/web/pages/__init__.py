"""The server-rendered pages, one router per resource: ``papers`` (the daily feed,
search, a paper, the theme switch, the API explorer), ``accounts`` (sign-up, login,
password reset, settings), ``community`` (upvotes, trending, submit), ``library``
(saves, notes, collections, "For you"), ``digests`` (subscribe, confirm, unsubscribe,
manage) and ``feeds`` (RSS/Atom). ``listing`` holds what pages that list papers share.

Pages render through ``web/rendering.py``. They catch an error only to show a form
again with its message; every other failure becomes the error page in
``web/errors.py``.
"""
