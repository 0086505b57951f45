package main

// Config is the daemon's configuration, decoded from YAML and environment.
type Config struct{}
