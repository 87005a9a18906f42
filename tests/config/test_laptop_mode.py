"""Laptop mode: tasks run in-process on kombu's in-memory broker, quietly."""
import logging

from celery import current_app
from django.conf import settings
from django.contrib.staticfiles import finders


def test_the_in_process_broker_names_a_host_so_kombu_does_not_warn(caplog):
    # "No hostname was supplied. Reverting to default 'localhost'" was printed by every command.
    assert settings.IN_PROCESS_BROKER.startswith("memory://") and "localhost" in settings.IN_PROCESS_BROKER
    with caplog.at_level(logging.WARNING):
        with current_app.connection_for_write(settings.IN_PROCESS_BROKER) as connection:
            connection.ensure_connection(max_retries=1)
    assert not [r for r in caplog.records if "No hostname" in r.getMessage()]


def test_every_page_names_a_favicon_that_the_app_serves(client):
    page = client.get("/accounts/login/").content.decode()
    assert 'rel="icon"' in page and "img/favicon.svg" in page
    assert finders.find("img/favicon.svg")
