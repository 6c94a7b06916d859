from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "JSON API and legacy streaming endpoints"
    default_auto_field = "django.db.models.BigAutoField"
