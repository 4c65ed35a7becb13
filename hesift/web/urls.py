from django.urls import path

from . import views

urlpatterns = [
    path("", views.search, name="search"),
    path("add/", views.add, name="add"),
    path("gallery/", views.gallery_list, name="gallery"),
    path("remove/", views.remove, name="remove"),
    path("thumb/<int:image_id>.png", views.thumbnail, name="thumb"),
]
