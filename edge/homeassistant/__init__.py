"""Home Assistant MQTT discovery: the compound's devices and alarms as Home Assistant entities."""
