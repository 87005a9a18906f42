"""Events other apps follow (see the `outbox` app): published in the transaction of the change,
carried out after it commits. This app never imports the apps that use the rates (forecasting):
they subscribe here, in their receivers.py."""
from outbox.topics import Topic

# Payload: `currencies` (sorted list of codes whose rates changed) and `source` (RateSource value).
rates_changed = Topic("currencies.rates_changed")
