"""URLs of the remote-gallery page (the names base.html links to all exist)."""

from django.urls import path

from . import remote_views

urlpatterns = [
    path("", remote_views.search, name="search"),
    path("add/", remote_views.unavailable, name="add"),
    path("gallery/", remote_views.unavailable, name="gallery"),
]
