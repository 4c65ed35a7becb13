from django.apps import AppConfig


class HesiftWebConfig(AppConfig):
    name = "hesift.web"
    label = "hesift_web"
    verbose_name = "hesift gallery"
