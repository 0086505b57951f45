// Command sifely2mqtt bridges Sifely smart locks to MQTT and Home Assistant.
package main

func main() {}
