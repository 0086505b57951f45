// Command sifely2mqtt bridges Sifely smart locks to MQTT and Home Assistant.
//
// Usage:
//
//	sifely2mqtt [-config path] [-check-config] [-demo] [-version]
//
// The configuration is a YAML file (see config.yaml.example) whose keys can
// each be overridden by a SIFELY2MQTT_<SECTION>_<KEY> environment variable.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is the release, set at build time with
// -ldflags "-X main.version=v1.2.3"; otherwise taken from the build info.
var version = "dev"

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sifely2mqtt:", err)
		os.Exit(1)
	}
}

// run parses args, loads the configuration and runs the daemon until ctx
// ends or SIGINT/SIGTERM arrives.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("sifely2mqtt", flag.ContinueOnError)
	fset.SetOutput(stderr)
	configDefault := defaultConfigPath
	if p := getenv(envPrefix + "_CONFIG"); p != "" {
		configDefault = p
	}
	configPath := fset.String("config", configDefault, "`path` of the YAML config file (env "+envPrefix+"_CONFIG)")
	showVersion := fset.Bool("version", false, "print the version and exit")
	checkConfig := fset.Bool("check-config", false, "load and validate the config, print it with secrets redacted, and exit")
	demo := fset.Bool("demo", false, "use the built-in simulated cloud with a few demo locks; no credentials needed")
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fset.Args())
	}
	ver := buildVersion()
	if *showVersion {
		_, err := fmt.Fprintf(stdout, "sifely2mqtt %s\n", ver)
		return err
	}

	cfg, err := LoadConfig(*configPath, getenv, *demo)
	if err != nil {
		return err
	}
	if *checkConfig {
		out, err := cfg.Redacted()
		if err != nil {
			return err
		}
		_, err = stdout.Write(out)
		return err
	}

	logger := newLogger(cfg.Log, stderr)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runDaemon(ctx, cfg, runOptions{Demo: *demo, Version: ver, Stdout: stdout}, logger)
}

// newLogger builds the process logger from a validated LogConfig.
func newLogger(c LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// buildVersion is version, or the main module's version from the build
// info when version was not set at link time.
func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}
