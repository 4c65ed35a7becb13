from django.urls import path

from . import private_api, views

urlpatterns = [
    path("", views.search, name="search"),
    path("add/", views.add, name="add"),
    path("gallery/", views.gallery_list, name="gallery"),
    path("remove/", views.remove, name="remove"),
    path("thumb/<int:image_id>.png", views.thumbnail, name="thumb"),
    path("jobs/<str:job_id>/", views.job_page, name="job"),
    path("jobs/<str:job_id>.json", views.job_status, name="job-status"),
    path("api/private/params", private_api.params, name="private-params"),
    path("api/private/query", private_api.query, name="private-query"),
    path("api/private/features", private_api.features, name="private-features"),
]
