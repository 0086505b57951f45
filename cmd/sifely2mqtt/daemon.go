package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
)

type runOptions struct {
	Demo    bool
	Version string
	Stdout  io.Writer
}

func runDaemon(ctx context.Context, cfg Config, opts runOptions, logger *slog.Logger) error {
	return errors.New("daemon not wired yet")
}
