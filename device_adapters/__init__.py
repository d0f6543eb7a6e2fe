"""Device adapters: the MQTT contract (SPEC §3), simulated devices and an embedded broker."""
