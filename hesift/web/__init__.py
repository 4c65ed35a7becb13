"""The hesift web page: upload a photo, see the 5 most similar gallery images.

A Django site configured in code (no manage.py): ``hesift serve`` or
:func:`hesift.web.server.serve`.  See docs/gallery.md for settings.
"""
