"""The core shared by the API and the MQTT handler: settings, AWS clients, storage, Yoto."""
